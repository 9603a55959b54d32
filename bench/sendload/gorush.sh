#!/usr/bin/env bash
# Builds gorush v1.22.0 with a local, uncommitted change that lets it reach a
# fake push service, for bench/sendload -target gorush. Nothing of gorush is
# kept in this repository: the source is fetched into $GORUSH_SRC (default
# /tmp/gorush-src) and the binary goes to $GORUSH_BIN (default
# /tmp/gorush-bin/gorush).
#
# gorush has no setting for the APNS host or the FCM endpoint. The change:
#   - notify/notification_apns.go: at start, ApnsClient.Host is taken from
#     GORUSH_APNS_HOST, and getApnsClient then returns that client as it is
#     (no per-push switch to Apple's production or development host);
#   - notify/notification_fcm.go: fcm.WithEndpoint(GORUSH_FCM_ENDPOINT) is
#     passed to its FCM client (the OAuth endpoint comes from the service
#     account's token_uri).
# The fake's TLS certificate is trusted through SSL_CERT_FILE.
#
#   bash bench/sendload/gorush.sh            # clone (if needed), patch, build
#   GORUSH_SRC=/path/to/checkout bash bench/sendload/gorush.sh
set -euo pipefail
SRC=${GORUSH_SRC:-/tmp/gorush-src}
BIN=${GORUSH_BIN:-/tmp/gorush-bin/gorush}
if [ ! -f "$SRC/go.mod" ]; then
  git clone --depth 1 --branch v1.22.0 https://github.com/appleboy/gorush "$SRC"
fi
apns=$SRC/notify/notification_apns.go
fcm=$SRC/notify/notification_fcm.go
if ! grep -q GORUSH_APNS_HOST "$apns"; then
  sed -i '/if h2Transport, ok := ApnsClient.HTTPClient.Transport.(\*http2.Transport); ok {/i\
	if h := os.Getenv("GORUSH_APNS_HOST"); h != "" { ApnsClient.Host = h }' "$apns"
  sed -i '/^func getApnsClient(cfg \*config.ConfYaml, req \*PushNotification) (client \*apns2.Client) {/a\
	if os.Getenv("GORUSH_APNS_HOST") != "" { return ApnsClient }' "$apns"
  grep -q '^	"os"$' "$apns" || sed -i '0,/^import (/s//import (\n	"os"/' "$apns"
fi
if ! grep -q GORUSH_FCM_ENDPOINT "$fcm"; then
  sed -i '/^	var opts \[\]fcm.Option$/a\
	if e := os.Getenv("GORUSH_FCM_ENDPOINT"); e != "" { opts = append(opts, fcm.WithEndpoint(e)) }' "$fcm"
fi
[ "$(grep -c 'GORUSH_APNS_HOST' "$apns")" = 2 ] && grep -q GORUSH_FCM_ENDPOINT "$fcm" || { echo "gorush.sh: the patch did not apply to $SRC" >&2; exit 1; }
mkdir -p "$(dirname "$BIN")"
(cd "$SRC" && go build -o "$BIN" .)
echo "built $BIN"
