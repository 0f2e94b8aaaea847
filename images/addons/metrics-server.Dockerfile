# metrics-server built from its Go module (scripts/addons.sh), FROM scratch.
FROM scratch
COPY metrics-server /metrics-server
USER 65534:65534
ENTRYPOINT ["/metrics-server"]
