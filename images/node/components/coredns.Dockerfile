# kubeadm's CoreDNS Deployment gives only args, so the entrypoint is the binary.
FROM scratch
COPY coredns /coredns
EXPOSE 53 53/udp
ENTRYPOINT ["/coredns"]
