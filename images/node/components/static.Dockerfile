# A static Go binary on PATH in an empty image; kubeadm's static pods and the
# node manifests give the command. BIN is the binary's name in the context.
FROM scratch
ARG BIN
COPY ${BIN} /usr/local/bin/${BIN}
ENV PATH=/usr/local/bin:/bin
