# kube-proxy execs iptables-save/-restore and conntrack, so it runs on a small
# Debian rootfs (images/node/rootfs.sh iptables). iptables-wrapper picks the
# iptables backend the node uses before exec'ing the real binary.
ARG BASE
FROM ${BASE}
COPY kube-proxy /usr/local/bin/kube-proxy.bin
COPY iptables-wrapper /usr/local/bin/kube-proxy
ENTRYPOINT ["/usr/local/bin/kube-proxy"]
