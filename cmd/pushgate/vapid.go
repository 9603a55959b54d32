package main

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

func (e env) vapidKeys(args []string) error {
	fs := e.newFlagSet("vapid-keys", "vapid-keys [--json]")
	asJSON := fs.Bool("json", false, "print {\"publicKey\",\"privateKey\"}")
	if rest, err := e.parse(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return fmt.Errorf("%w: vapid-keys takes no arguments", errUsage)
	}
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	// The encodings browsers and push libraries use: the uncompressed public
	// point and the raw private scalar, both base64url without padding.
	pub := base64.RawURLEncoding.EncodeToString(key.PublicKey().Bytes())
	priv := base64.RawURLEncoding.EncodeToString(key.Bytes())
	if *asJSON {
		b, _ := json.Marshal(map[string]string{"publicKey": pub, "privateKey": priv})
		fmt.Fprintln(e.stdout, string(b))
		return nil
	}
	fmt.Fprintf(e.stdout, "Public key:  %s\nPrivate key: %s\n", pub, priv)
	return nil
}
