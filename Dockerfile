# The pushgate image: one static binary, the CA certificates it checks push
# services with, a non-root user, nothing else.
#
#   docker build -t pushgate .
#   docker run -p 8080:8080 -v pushgate-data:/data pushgate
#
# CI builds the same image without a Docker daemon or a registry
# (deploy/check: go-containerregistry appends the binary and the
# certificates onto an empty base) and checks its configuration.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Pure Go (SQLite included): a static binary that runs on an empty base.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/pushgate ./cmd/pushgate \
 && mkdir -p /out/data

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/pushgate /pushgate
# The embedded database, the generated master key and the image CDN's files
# live in /data unless PostgreSQL and a master key are configured.
COPY --from=build --chown=65532:65532 /out/data /data
ENV PUSHGATE_DATA_DIR=/data \
    PUSHGATE_LOG_FORMAT=json \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
EXPOSE 8080
VOLUME ["/data"]
ENTRYPOINT ["/pushgate"]
CMD ["serve"]
