# kube-router (NetworkPolicy controller only) execs iptables-save/-restore and
# ipset: same small Debian base as kube-proxy, same backend-selecting wrapper.
ARG BASE
FROM ${BASE}
COPY kube-router /usr/local/bin/kube-router.bin
COPY iptables-wrapper /usr/local/bin/kube-router
ENTRYPOINT ["/usr/local/bin/kube-router"]
