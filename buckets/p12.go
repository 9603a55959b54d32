package buckets

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"hash"
	"math/big"
)

// A PKCS#12 file says how many key-derivation iterations each of its parts
// costs, and go-pkcs12 pays whatever it asks. p12Iterations reads every
// count that is visible before decryption so that fromP12 can refuse costly
// files first. One count is not visible: a private key bag stored inside an
// encrypted part. exposeP12Key makes sure such a bag is never derived:
// go-pkcs12 decodes key bags in the order of the parts and stops at a
// second one, so the part whose key bag was checked is moved first.

// p12Iterations returns the largest key-derivation iteration count a PFX
// shows before anything is decrypted: its MAC's and those of its encrypted
// parts and of the key bags in its unencrypted parts.
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

var (
	errP12HiddenKey  = errors.New("p12: the private key is inside an encrypted part")
	errP12Passphrase = errors.New("p12: the passphrase does not verify the MAC")
	errP12Unreadable = errors.New("p12: not a PKCS#12 file exposeP12Key can check")

	oidDataContent          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedDataContent = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidKeyBag               = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 1}
	oidShroudedKeyBag       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidSHA1                 = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256               = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA512               = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
)

// The PFX structures of RFC 7292, as far as exposeP12Key reads them.
type pfxPDU struct {
	Version  int
	AuthSafe p12ContentInfo
	MacData  p12MacData `asn1:"optional"`
}

type p12ContentInfo struct {
	ContentType asn1.ObjectIdentifier
	// Content is the whole [0] element (a RawValue keeps its own tag).
	Content asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type p12MacData struct {
	Mac struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}
	MacSalt    []byte
	Iterations int `asn1:"optional,default:1"`
}

// exposeP12Key returns der, or an equivalent PFX, in which go-pkcs12 meets
// a key bag of an unencrypted part (whose cost p12Iterations has checked)
// before any key bag hidden in an encrypted part, so that it refuses the
// hidden one without deriving its key. A file whose only key is hidden is
// errP12HiddenKey. Reordering the parts changes what the MAC covers, so
// the MAC is checked here with the passphrase (errP12Passphrase) and made
// again over the new order, with one iteration. Anything this cannot read
// is returned unchanged when go-pkcs12 refuses it before deriving a key,
// and is errP12Unreadable otherwise.
func exposeP12Key(der []byte, passphrase string) ([]byte, error) {
	var pfx pfxPDU
	if rest, err := asn1.Unmarshal(der, &pfx); err != nil || len(rest) > 0 || !pfx.AuthSafe.ContentType.Equal(oidDataContent) {
		return der, nil
	}
	var authSafe []byte
	if rest, err := asn1.Unmarshal(pfx.AuthSafe.Content.Bytes, &authSafe); err != nil || len(rest) > 0 {
		return der, nil
	}
	var parts []asn1.RawValue
	if rest, err := asn1.Unmarshal(authSafe, &parts); err != nil || len(rest) > 0 {
		return der, nil
	}
	var plain, encrypted []asn1.RawValue
	keyFirst, keyed := false, false
	for _, part := range parts {
		var ci p12ContentInfo
		if rest, err := asn1.Unmarshal(part.FullBytes, &ci); err != nil || len(rest) > 0 {
			return der, nil
		}
		switch {
		case ci.ContentType.Equal(oidDataContent):
			if holdsKeyBag(ci.Content.Bytes) {
				keyFirst = keyFirst || !keyed && len(encrypted) == 0
				keyed = true
			}
			plain = append(plain, part)
		case ci.ContentType.Equal(oidEncryptedDataContent):
			encrypted = append(encrypted, part)
		default:
			return der, nil // go-pkcs12 supports no other kind
		}
	}
	switch {
	case len(encrypted) == 0 || keyFirst:
		return der, nil
	case !keyed:
		return nil, errP12HiddenKey
	}

	reordered, err := asn1.Marshal(append(plain, encrypted...))
	if err != nil {
		return nil, errP12Unreadable
	}
	mac := pfx.MacData
	if len(mac.Mac.Algorithm.Algorithm) > 0 {
		h := macHash(mac.Mac.Algorithm.Algorithm)
		password, ok := bmpPassword(passphrase)
		if h == nil || !ok {
			return der, nil // go-pkcs12 refuses these before any work
		}
		if mac.Iterations > maxP12Iterations { // p12Iterations saw it first; never pay it here
			return nil, errP12Unreadable
		}
		// As go-pkcs12 does, an empty passphrase may also be no password.
		if !verifyP12MAC(h, &mac, authSafe, password) {
			if passphrase != "" || !verifyP12MAC(h, &mac, authSafe, nil) {
				return nil, errP12Passphrase
			}
			password = nil
		}
		mac.Iterations = 1
		mac.Mac.Digest = p12MAC(h, &mac, reordered, password)
	}
	octets, err := asn1.Marshal(reordered)
	if err != nil {
		return nil, errP12Unreadable
	}
	pfx.AuthSafe.Content = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: octets}
	pfx.MacData = mac
	if der, err = asn1.Marshal(pfx); err != nil {
		return nil, errP12Unreadable
	}
	return der, nil
}

// holdsKeyBag reports whether the content of a data part (an OCTET STRING
// holding SafeContents) holds a key bag, shrouded or not.
func holdsKeyBag(content []byte) bool {
	var safe []byte
	if _, err := asn1.Unmarshal(content, &safe); err != nil {
		return false
	}
	var bags []asn1.RawValue
	if _, err := asn1.Unmarshal(safe, &bags); err != nil {
		return false
	}
	for _, bag := range bags {
		var id asn1.ObjectIdentifier
		if _, err := asn1.Unmarshal(bag.Bytes, &id); err == nil && (id.Equal(oidKeyBag) || id.Equal(oidShroudedKeyBag)) {
			return true
		}
	}
	return false
}

// macHash returns the digests go-pkcs12 accepts for a MAC.
func macHash(oid asn1.ObjectIdentifier) func() hash.Hash {
	switch {
	case oid.Equal(oidSHA1):
		return sha1.New
	case oid.Equal(oidSHA256):
		return sha256.New
	case oid.Equal(oidSHA512):
		return sha512.New
	}
	return nil
}

// bmpPassword encodes a passphrase as PKCS#12 wants it: UCS-2, big-endian,
// with a terminating zero. Characters outside the BMP cannot be encoded.
func bmpPassword(s string) ([]byte, bool) {
	b := make([]byte, 0, 2*len(s)+2)
	for _, r := range s {
		if r > 0xFFFF {
			return nil, false
		}
		b = append(b, byte(r>>8), byte(r))
	}
	return append(b, 0, 0), true
}

func verifyP12MAC(h func() hash.Hash, mac *p12MacData, msg, password []byte) bool {
	return hmac.Equal(mac.Mac.Digest, p12MAC(h, mac, msg, password))
}

func p12MAC(h func() hash.Hash, mac *p12MacData, msg, password []byte) []byte {
	key := pkcs12KDF(h, 3, password, mac.MacSalt, mac.Iterations, h().Size())
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}

// pkcs12KDF is the key derivation of RFC 7292, appendix B.2: n bytes of
// purpose id (1 key, 2 IV, 3 MAC) from password and salt.
func pkcs12KDF(h func() hash.Hash, id byte, password, salt []byte, iterations, n int) []byte {
	d := h()
	u, v := d.Size(), d.BlockSize()
	// I is the salt and the password, each repeated to whole blocks.
	stretch := func(b []byte) []byte {
		out := make([]byte, v*((len(b)+v-1)/v))
		for i := range out {
			out[i] = b[i%len(b)]
		}
		return out
	}
	var I []byte
	if len(salt) > 0 {
		I = append(I, stretch(salt)...)
	}
	if len(password) > 0 {
		I = append(I, stretch(password)...)
	}
	diversifier := bytes.Repeat([]byte{id}, v)
	out := make([]byte, 0, n+u)
	b := make([]byte, v)
	for {
		d.Reset()
		d.Write(diversifier)
		d.Write(I)
		a := d.Sum(nil)
		for range iterations - 1 {
			d.Reset()
			d.Write(a)
			a = d.Sum(a[:0])
		}
		out = append(out, a...)
		if len(out) >= n {
			return out[:n]
		}
		// Each block of I becomes (block + B + 1) mod 2^(8v), B being A
		// repeated to v bytes.
		for i := range b {
			b[i] = a[i%u]
		}
		for j := 0; j < len(I); j += v {
			carry := 1
			for k := v - 1; k >= 0; k-- {
				sum := int(I[j+k]) + int(b[k]) + carry
				I[j+k], carry = byte(sum), sum>>8
			}
		}
	}
}
