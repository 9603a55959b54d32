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
	// Exporters use 2,000 to 10,000 (OpenSSL, Keychain, Windows, Java); a
	// file asking for billions would hold a request for hours, and even a
	// million costs about a second per derivation.
	maxP12Iterations = 100_000
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
		topic = certUID(leaf)
		if !validTopic(topic) {
			o.p.add(o.at("appBundleId"), "is required (or websitePushId): the certificate names no bundle id in its subject UID")
		}
	}
	c.Topic = topic
	return c
}

func certUID(cert *x509.Certificate) string {
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
		o.p.add(o.at("p12"), "asks for %s key-derivation iterations; at most %d are accepted", n, maxP12Iterations)
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

// p12Iterations returns the largest key-derivation iteration count a PFX
// shows before anything is decrypted: its MAC's and those of its encrypted
// parts. go-pkcs12 honours any count, so this is checked first. A key bag
// nested inside an encrypted part shows its count only once decrypted, and
// is not covered.
func p12Iterations(der []byte) *big.Int {
	highest := new(big.Int)
	var pfx struct {
		Version  int
		AuthSafe asn1.RawValue
		MacData  struct {
			Mac        asn1.RawValue
			Salt       []byte
			Iterations *big.Int `asn1:"optional"`
		} `asn1:"optional"`
	}
	if _, err := asn1.Unmarshal(der, &pfx); err != nil {
		return highest // not a PFX: the decoder refuses it cheaply
	}
	if n := pfx.MacData.Iterations; n != nil && n.Cmp(highest) > 0 {
		highest = n
	}
	walkIterations(pfx.AuthSafe.FullBytes, 0, highest)
	return highest
}

var (
	oidPKCS12PBE = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1}
	oidPBKDF2    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
)

// walkIterations raises highest to every iteration count found in a
// PKCS#12 PBE or PBKDF2 algorithm identifier within der, looking into
// OCTET STRINGs too since PKCS#12 wraps its structures in them. The
// decoder reads algorithm identifiers at most 13 levels down, so the
// depth limit loses nothing; it bounds the walk to a few passes over der.
func walkIterations(der []byte, depth int, highest *big.Int) {
	if depth > 20 {
		return
	}
	for len(der) > 0 {
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(der, &v)
		if err != nil {
			return
		}
		der = rest
		switch {
		case v.Class == asn1.ClassUniversal && v.Tag == asn1.TagSequence && v.IsCompound:
			checkAlgorithm(v.Bytes, highest)
			walkIterations(v.Bytes, depth+1, highest)
		case v.IsCompound:
			walkIterations(v.Bytes, depth+1, highest)
		case v.Class == asn1.ClassUniversal && v.Tag == asn1.TagOctetString && len(v.Bytes) > 0 && v.Bytes[0] == 0x30:
			walkIterations(v.Bytes, depth+1, highest)
		}
	}
}

// checkAlgorithm looks at the members of a SEQUENCE that may be an
// AlgorithmIdentifier whose parameters start with (salt, iterations).
func checkAlgorithm(seq []byte, highest *big.Int) {
	var oid asn1.ObjectIdentifier
	rest, err := asn1.Unmarshal(seq, &oid)
	if err != nil {
		return
	}
	pbe := len(oid) == len(oidPKCS12PBE)+1 && oid[:len(oidPKCS12PBE)].Equal(oidPKCS12PBE)
	if !pbe && !oid.Equal(oidPBKDF2) {
		return
	}
	var params asn1.RawValue
	if _, err := asn1.Unmarshal(rest, &params); err != nil || params.Tag != asn1.TagSequence {
		return
	}
	var salt asn1.RawValue
	rest, err = asn1.Unmarshal(params.Bytes, &salt)
	if err != nil {
		return
	}
	n := new(big.Int)
	if _, err := asn1.Unmarshal(rest, &n); err != nil {
		return
	}
	if n.Cmp(highest) > 0 {
		highest.Set(n)
	}
}
