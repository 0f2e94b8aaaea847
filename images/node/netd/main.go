// vitals-netd: the node network agent of the vitals kind node image, in the
// role of kind's kindnetd (whose module is not published): for each node it
//   - writes the CNI config (ptp + host-local on the node's spec.podCIDR +
//     portmap) once the controller-manager has allocated the podCIDR,
//   - routes every other node's podCIDR via that node's InternalIP (nodes
//     share one docker network, so pod-to-pod needs no encapsulation),
//   - masquerades pod traffic leaving the cluster pod subnet (nftables),
//   - rejects traffic to the service CIDRs that kube-proxy did not DNAT (a
//     service IP with no rules yet), so it never leaves the node: on some
//     hosts the outer network answers any :443 (a transparent proxy), and a
//     kept-alive connection from the aggregator to a not-yet-programmed
//     service IP then serves 404s for good.
// NetworkPolicy is enforced by sigs.k8s.io/kube-network-policies, a separate
// DaemonSet in the same manifest (/kind/manifests/default-cni.yaml).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// routeProto tags the routes we own, so stale ones can be removed.
const routeProto = netlink.RouteProtocol(0x76)

func main() {
	nodeName := os.Getenv("NODE_NAME")
	podSubnet := os.Getenv("POD_SUBNET")
	confDir := envOr("CNI_CONF_DIR", "/etc/cni/net.d")
	mtu := envOr("MTU", "1500")
	if nodeName == "" || podSubnet == "" {
		log.Fatal("NODE_NAME and POD_SUBNET must be set")
	}
	// kind adds CONTROL_PLANE_ENDPOINT (host:port): reach the API server
	// before kube-proxy has programmed the service VIP.
	if ep := os.Getenv("CONTROL_PLANE_ENDPOINT"); ep != "" {
		if h, p, err := net.SplitHostPort(ep); err == nil {
			os.Setenv("KUBERNETES_SERVICE_HOST", h)
			os.Setenv("KUBERNETES_SERVICE_PORT", p)
		}
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		log.Fatalf("in-cluster config: %v", err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	_, clusterNet, err := net.ParseCIDR(podSubnet)
	if err != nil {
		log.Fatalf("POD_SUBNET %q: %v", podSubnet, err)
	}
	log.Printf("vitals-netd on node %s, pod subnet %s", nodeName, podSubnet)
	applied := "unset"
	for {
		svc := serviceCIDRs(cs)
		if key := fmt.Sprint(svc); key != applied {
			if err := ensureRules(clusterNet, svc); err != nil {
				log.Printf("WARN: nftables rules: %v", err)
			} else {
				log.Printf("nftables: masquerade %s egress; reject un-DNATed traffic to %v", clusterNet, svc)
				applied = key
			}
		}
		if err := syncOnce(cs, nodeName, confDir, mtu); err != nil {
			log.Printf("sync: %v", err)
		}
		time.Sleep(5 * time.Second)
	}
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func internalIP(n *corev1.Node) net.IP {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			if ip := net.ParseIP(a.Address); ip != nil && ip.To4() != nil {
				return ip
			}
		}
	}
	return nil
}

func syncOnce(cs kubernetes.Interface, self, confDir, mtu string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	want := map[string]*netlink.Route{}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if n.Spec.PodCIDR == "" {
			continue
		}
		if n.Name == self {
			if err := writeCNIConfig(confDir, n.Spec.PodCIDR, mtu); err != nil {
				return err
			}
			continue
		}
		gw := internalIP(n)
		_, dst, err := net.ParseCIDR(n.Spec.PodCIDR)
		if gw == nil || err != nil || dst.IP.To4() == nil {
			continue
		}
		want[dst.String()] = &netlink.Route{Dst: dst, Gw: gw, Protocol: routeProto}
	}
	for _, r := range want {
		if err := netlink.RouteReplace(r); err != nil {
			log.Printf("route %s via %s: %v", r.Dst, r.Gw, err)
		}
	}
	have, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: routeProto}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return err
	}
	for i := range have {
		if have[i].Dst != nil && want[have[i].Dst.String()] == nil {
			log.Printf("removing stale route %s", have[i].Dst)
			_ = netlink.RouteDel(&have[i])
		}
	}
	return nil
}

func writeCNIConfig(dir, podCIDR, mtu string) error {
	var mtuN int
	fmt.Sscan(mtu, &mtuN)
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       "vitals",
		"plugins": []any{
			map[string]any{
				"type":   "ptp",
				"ipMasq": false,
				"mtu":    mtuN,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": "/run/cni-ipam-state",
					"routes":  []any{map[string]any{"dst": "0.0.0.0/0"}},
					"ranges":  []any{[]any{map[string]any{"subnet": podCIDR}}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]any{"portMappings": true}},
		},
	}
	b, _ := json.MarshalIndent(conf, "", "  ")
	path := filepath.Join(dir, "10-vitals.conflist")
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	log.Printf("writing %s for podCIDR %s", path, podCIDR)
	return os.Rename(tmp, path)
}

// serviceCIDRs lists the cluster's IPv4 service CIDRs (networking.k8s.io/v1
// ServiceCIDR, GA in 1.33), falling back to $SERVICE_SUBNET.
func serviceCIDRs(cs kubernetes.Interface) []*net.IPNet {
	var out []*net.IPNet
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if l, err := cs.NetworkingV1().ServiceCIDRs().List(ctx, metav1.ListOptions{}); err == nil {
		for _, sc := range l.Items {
			for _, c := range sc.Spec.CIDRs {
				if _, n, err := net.ParseCIDR(c); err == nil && n.IP.To4() != nil {
					out = append(out, n)
				}
			}
		}
	}
	if len(out) == 0 {
		if _, n, err := net.ParseCIDR(os.Getenv("SERVICE_SUBNET")); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// ensureRules programs (atomically, replacing the previous content):
//
//	table ip vitals-netd {
//	  chain postrouting { type nat hook postrouting priority srcnat;
//	    ip saddr POD_SUBNET ip daddr != POD_SUBNET masquerade }
//	  chain output  { type filter hook output priority filter;  ip daddr SVC reject }
//	  chain forward { type filter hook forward priority filter; ip daddr SVC reject }
//	}
//
// Filter hooks run after kube-proxy's DNAT, so only traffic to a service IP
// without rules is still addressed to the service CIDR there.
func ensureRules(cluster *net.IPNet, svc []*net.IPNet) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "vitals-netd"})
	c.FlushTable(t)
	ch := c.AddChain(&nftables.Chain{
		Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
	})
	ip4 := cluster.IP.To4()
	mask := []byte(cluster.Mask)
	zero := []byte{0, 0, 0, 0}
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: zero},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip4},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: zero},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ip4},
		&expr.Masq{},
	}})
	for _, hook := range []*nftables.ChainHook{nftables.ChainHookOutput, nftables.ChainHookForward} {
		name := "output"
		if hook == nftables.ChainHookForward {
			name = "forward"
		}
		fch := c.AddChain(&nftables.Chain{
			Name: name, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: hook, Priority: nftables.ChainPriorityFilter,
		})
		for _, n := range svc {
			c.AddRule(&nftables.Rule{Table: t, Chain: fch, Exprs: []expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
				&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte(n.Mask), Xor: zero},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: n.IP.To4()},
				// ICMP port unreachable: the caller gets "connection refused" at once.
				&expr.Reject{Type: 0, Code: 3},
			}})
		}
	}
	return c.Flush()
}
