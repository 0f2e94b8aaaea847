# kubernetes build/pause/linux/pause.c, compiled static by scripts/node-image.sh.
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
