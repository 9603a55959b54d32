package buckets

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// oidUID is the subject attribute in which Apple's push certificates carry
// the bundle id they were issued for.
var oidUID = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}

const (
	// maxP12Size is far above any real push certificate (a few KiB) and
	// keeps hostile input small.
	maxP12Size = 64 << 10
	// maxP12Iterations bounds each key derivation a .p12 may ask for.
	// Exporters use 2,000 to 10,000 (OpenSSL and Keychain 2,048, Windows
	// 2,000, Java's keytool 10,000). Opening a file takes up to seven
	// derivations, about 10 ms of CPU at this bound, so a bucket of
	// MaxCredentials certificates costs a fifth of a second; at 100,000 it
	// was seconds, and a file asking for billions would hold a core for
	// hours.
	maxP12Iterations = 10_000
)

func parseAPNSCert(o *object, opts ParseOptions) *APNSCertCredential {
	c := &APNSCertCredential{Production: o.flag("production")}
	topic, topicOK := o.apnsTopic()
	var leaf *x509.Certificate
	certField := "cert"
	switch hasP12 := o.has("p12"); {
	case hasP12 && (o.has("cert") || o.has("key")):
		o.p.add(o.path, "give p12 (with its passphrase) or cert and key, not both")
		return nil
	case hasP12:
		certField = "p12"
		leaf = c.fromP12(o)
	case o.has("cert") || o.has("key"):
		leaf = c.fromPEM(o)
	default:
		o.p.add(o.at("p12"), "is required (or cert and key in PEM)")
		return nil
	}
	if leaf == nil {
		return nil
	}
	// An expired certificate would be refused by Apple on every send.
	now := opts.now()
	if now.After(leaf.NotAfter) {
		o.p.add(o.at(certField), "the certificate expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	} else if now.Before(leaf.NotBefore) {
		o.p.add(o.at(certField), "the certificate is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if topicOK && topic == "" {
		topic = CertTopic(leaf)
		if !validTopic(topic) {
			o.p.add(o.at("appBundleId"), "is required (or websitePushId): the certificate names no bundle id in its subject UID")
		}
	}
	c.Topic = topic
	return c
}

// CertTopic is the bundle id an Apple push certificate was issued for: its
// subject's UID, "" when it names none. The apns provider uses it for a
// credential that names no topic.
func CertTopic(cert *x509.Certificate) string {
	for _, n := range cert.Subject.Names {
		if n.Type.Equal(oidUID) {
			if s, ok := n.Value.(string); ok {
				return s
			}
		}
	}
	return ""
}

// fromP12 opens the payload's p12 and sets c's PEM forms from it. It returns
// the leaf certificate, or nil after reporting a problem.
func (c *APNSCertCredential) fromP12(o *object) *x509.Certificate {
	s, ok := o.requiredString("p12")
	pass, passOK := o.optionalString("passphrase")
	if !ok || !passOK {
		return nil
	}
	der, err := decodeBase64(s)
	if err != nil {
		o.p.add(o.at("p12"), "must be the base64 of a .p12 file")
		return nil
	}
	if len(der) > maxP12Size {
		o.p.add(o.at("p12"), "must be at most %d KiB", maxP12Size>>10)
		return nil
	}
	if n := p12Iterations(der); n.Cmp(big.NewInt(maxP12Iterations)) > 0 {
		o.p.add(o.at("p12"), "asks for %s key-derivation iterations; at most %d are accepted (export it again, e.g. `openssl pkcs12 -export -iter 2048`)", n, maxP12Iterations)
		return nil
	}
	// Every count go-pkcs12 will use must have been seen above.
	der, err = exposeP12Key(der, pass)
	switch {
	case errors.Is(err, errP12HiddenKey):
		o.p.add(o.at("p12"), "keeps its private key inside an encrypted part, whose cost cannot be checked before decrypting it; export it with the key in a shrouded key bag of its own (as openssl, Keychain, Windows and Java do)")
		return nil
	case errors.Is(err, errP12Passphrase):
		o.p.add(o.at("passphrase"), "does not open the p12 file")
		return nil
	case err != nil:
		o.p.add(o.at("p12"), "is not a PKCS#12 file holding a certificate and its private key")
		return nil
	}
	key, leaf, chain, err := pkcs12.DecodeChain(der, pass)
	switch {
	case errors.Is(err, pkcs12.ErrIncorrectPassword), errors.Is(err, pkcs12.ErrDecryption):
		o.p.add(o.at("passphrase"), "does not open the p12 file")
		return nil
	case err != nil:
		o.p.add(o.at("p12"), "is not a PKCS#12 file holding a certificate and its private key")
		return nil
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		o.p.add(o.at("p12"), "holds a private key of an unsupported kind")
		return nil
	}
	certPEM := encodeCerts(append([]*x509.Certificate{leaf}, chain...))
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	// DecodeChain does not check that the key belongs to the certificate.
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		o.p.add(o.at("p12"), "holds a private key that does not match its certificate")
		return nil
	}
	c.CertPEM, c.KeyPEM = string(certPEM), string(keyPEM)
	return leaf
}

// fromPEM is fromP12 for a certificate (with its chain, if given) and key in
// PEM. Both are re-encoded so that what is stored has one form.
func (c *APNSCertCredential) fromPEM(o *object) *x509.Certificate {
	certText, ok1 := o.requiredString("cert")
	keyText, ok2 := o.requiredString("key")
	if !ok1 || !ok2 {
		return nil
	}
	certs, problem := parseCertificates(certText)
	if problem != "" {
		o.p.add(o.at("cert"), "%s", problem)
	}
	key, keyProblem := parsePrivateKey(keyText)
	if keyProblem != "" {
		o.p.add(o.at("key"), "%s", keyProblem)
	}
	if problem != "" || keyProblem != "" {
		return nil
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		o.p.add(o.at("key"), "is a private key of an unsupported kind")
		return nil
	}
	certPEM := encodeCerts(certs)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		o.p.add(o.at("key"), "does not match the certificate")
		return nil
	}
	c.CertPEM, c.KeyPEM = string(certPEM), string(keyPEM)
	return certs[0]
}

func encodeCerts(certs []*x509.Certificate) []byte {
	var b []byte
	for _, cert := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})...)
	}
	return b
}

// parseCertificates reads the CERTIFICATE blocks of s, leaf first.
func parseCertificates(s string) ([]*x509.Certificate, string) {
	const want = "is not a PEM certificate"
	text, ok := pemText(s)
	if !ok {
		return nil, want
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, text = pem.Decode(text)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, want
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, want
	}
	return certs, ""
}

// parsePrivateKey reads the first private key block of s in any of the
// encodings OpenSSL writes (PKCS#8, PKCS#1, SEC 1).
func parsePrivateKey(s string) (any, string) {
	const want = "is not a PEM private key"
	text, ok := pemText(s)
	if !ok {
		return nil, want
	}
	for {
		var block *pem.Block
		block, text = pem.Decode(text)
		switch {
		case block == nil:
			return nil, want
		case block.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED"):
			return nil, "is an encrypted private key: send it decrypted, or send a p12 with its passphrase"
		case !strings.HasSuffix(block.Type, "PRIVATE KEY"):
			continue
		}
		if key, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			switch key.(type) {
			case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
				return key, ""
			}
			return nil, "is " + describeKey(key) + ", which cannot sign TLS"
		}
		if key, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
			return key, ""
		}
		if key, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
			return key, ""
		}
		return nil, want
	}
}
