// vitals-runc: an OCI runtime wrapper for hosts whose capability bounding set
// is smaller than what Docker asks for (e.g. no CAP_SYS_RESOURCE in a
// sandboxed VM). Docker 20.10 requests every capability for --privileged, and
// runc then fails with "unable to apply caps: operation not permitted".
//
// Registered as dockerd's default-runtime by scripts/docker.sh, only on such
// hosts. On `create`/`run` it edits the bundle's config.json, on `exec` the
// --process file, then execs the real runc with the same arguments:
//   - drops capabilities that are not in our own bounding set (CapBnd),
//   - clamps rlimits to our current hard limits (raising needs the cap),
//   - raises an oomScoreAdj below our own (lowering needs the cap).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

var rlimitIDs = map[string]int{
	"RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
	"RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
	"RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
	"RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

func logf(format string, a ...any) {
	if p := os.Getenv("VITALS_RUNC_LOG"); p != "" {
		if f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintf(f, format+"\n", a...)
			f.Close()
		}
	}
}

func procStatus(field string) string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func boundingSet() map[string]bool {
	mask, err := strconv.ParseUint(procStatus("CapBnd"), 16, 64)
	if err != nil {
		mask = ^uint64(0)
	}
	allowed := map[string]bool{}
	for i, n := range capNames {
		if mask&(1<<uint(i)) != 0 {
			allowed[n] = true
		}
	}
	return allowed
}

// fixProcess edits an OCI "process" object in place; reports whether it changed.
func fixProcess(p map[string]any) bool {
	changed := false
	if caps, ok := p["capabilities"].(map[string]any); ok {
		allowed := boundingSet()
		for set, v := range caps {
			list, ok := v.([]any)
			if !ok {
				continue
			}
			kept := list[:0:0]
			for _, c := range list {
				if s, ok := c.(string); ok && !allowed[s] && knownCap(s) {
					changed = true
					continue
				}
				kept = append(kept, c)
			}
			caps[set] = kept
		}
	}
	if rl, ok := p["rlimits"].([]any); ok {
		for _, r := range rl {
			m, ok := r.(map[string]any)
			if !ok {
				continue
			}
			id, ok := rlimitIDs[fmt.Sprint(m["type"])]
			if !ok {
				continue
			}
			var cur syscall.Rlimit
			if syscall.Getrlimit(id, &cur) != nil {
				continue
			}
			for _, k := range []string{"hard", "soft"} {
				n, err := strconv.ParseUint(fmt.Sprint(m[k]), 10, 64)
				if err == nil && n > cur.Max {
					m[k] = json.Number(strconv.FormatUint(cur.Max, 10))
					changed = true
				}
			}
		}
	}
	if v, ok := p["oomScoreAdj"]; ok {
		own, err1 := strconv.Atoi(strings.TrimSpace(readFile("/proc/self/oom_score_adj")))
		want, err2 := strconv.Atoi(fmt.Sprint(v))
		if err1 == nil && err2 == nil && want < own {
			p["oomScoreAdj"] = json.Number(strconv.Itoa(own))
			changed = true
		}
	}
	return changed
}

func knownCap(s string) bool {
	for _, n := range capNames {
		if n == s {
			return true
		}
	}
	return false
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func editJSON(path string, fix func(map[string]any) bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		logf("read %s: %v", path, err)
		return
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var doc map[string]any
	if err := d.Decode(&doc); err != nil {
		logf("parse %s: %v", path, err)
		return
	}
	if !fix(doc) {
		return
	}
	out, err := json.Marshal(doc)
	if err != nil {
		logf("marshal %s: %v", path, err)
		return
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		logf("write %s: %v", path, err)
		return
	}
	logf("fixed %s", path)
}

// flagValue returns the value of --name/-short (as "--name v" or "--name=v").
func flagValue(args []string, long, short string) (string, bool) {
	for i, a := range args {
		for _, f := range []string{long, short} {
			if f == "" {
				continue
			}
			if a == f && i+1 < len(args) {
				return args[i+1], true
			}
			if v, ok := strings.CutPrefix(a, f+"="); ok {
				return v, true
			}
		}
	}
	return "", false
}

// Global runc flags that take a value (so their value is not a subcommand).
var globalWithValue = map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}

func subcommand(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			if globalWithValue[a] {
				i++
			}
			continue
		}
		return a, args[i+1:]
	}
	return "", nil
}

func realRunc() string {
	if p := os.Getenv("VITALS_REAL_RUNC"); p != "" {
		return p
	}
	self, _ := os.Executable()
	for _, p := range []string{"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"} {
		if r, err := filepath.EvalSymlinks(p); err == nil && r != self {
			return p
		}
	}
	p, _ := exec.LookPath("runc")
	return p
}

func main() {
	args := os.Args[1:]
	cmd, rest := subcommand(args)
	switch cmd {
	case "create", "run":
		bundle, ok := flagValue(rest, "--bundle", "-b")
		if !ok {
			bundle, _ = os.Getwd()
		}
		editJSON(filepath.Join(bundle, "config.json"), func(doc map[string]any) bool {
			p, ok := doc["process"].(map[string]any)
			return ok && fixProcess(p)
		})
	case "exec":
		if pf, ok := flagValue(rest, "--process", "-p"); ok {
			editJSON(pf, fixProcess)
		}
	}
	runc := realRunc()
	if runc == "" {
		fmt.Fprintln(os.Stderr, "vitals-runc: real runc not found (set VITALS_REAL_RUNC)")
		os.Exit(127)
	}
	err := syscall.Exec(runc, append([]string{"runc"}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "vitals-runc: exec %s: %v\n", runc, err)
	os.Exit(127)
}
