package buckets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"os"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"
)

// Every exporter we know (OpenSSL with and without -legacy, go-pkcs12)
// puts the certificates in an encrypted part before the key's part, so
// every real file is reordered and its MAC made again: the MAC must be
// checked and made exactly as go-pkcs12 and OpenSSL do.
func TestExposeP12KeyKeepsRealFilesWorking(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := selfSigned(key, pkix.Name{CommonName: "expose"})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for name, enc := range map[string]*pkcs12.Encoder{"go-pkcs12 modern (SHA-256 MAC)": pkcs12.Modern, "go-pkcs12 legacy DES (SHA-1 MAC)": pkcs12.LegacyDES, "go-pkcs12 legacy RC2": pkcs12.LegacyRC2} {
		if files[name], err = enc.Encode(key, cert, nil, testPassphrase); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"openssl3.p12", "openssl-legacy.p12"} {
		if files[name], err = os.ReadFile("testdata/" + name); err != nil {
			t.Fatal(err)
		}
	}
	for name, der := range files {
		out, err := exposeP12Key(der, testPassphrase)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if bytes.Equal(out, der) {
			t.Errorf("%s: not reordered; the fixture no longer has the exporters' layout", name)
		}
		if first := authSafeTypes(t, out)[0]; !first.Equal(oidDataContent) {
			t.Errorf("%s: first part is %v, want the unencrypted key part", name, first)
		}
		if _, _, _, err := pkcs12.DecodeChain(out, testPassphrase); err != nil {
			t.Errorf("%s: go-pkcs12 refuses the reordered file: %v", name, err)
		}
		if _, err := exposeP12Key(der, "wrong horse"); !errors.Is(err, errP12Passphrase) {
			t.Errorf("%s with a wrong passphrase: %v, want errP12Passphrase", name, err)
		}
	}
}

// A key bag inside an encrypted part shows its iteration count only once
// that part is decrypted. A file whose only key is there is refused before
// anything is derived; one that also has a key outside is ordered so that
// go-pkcs12 meets that one first and stops at the hidden one unopened.
func TestP12HiddenKeyIsNeverDerived(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := selfSigned(key, pkix.Name{CommonName: "hidden", ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidUID, Value: testBundleID}}})
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	// Far above the cap, and never worked through when the guard holds:
	// its ciphertext is garbage that only this count protects.
	const hiddenCost = 50_000_000
	hidden := safeBag(t, oidShroudedKeyBag, shroudedKey(t, keyDER, hiddenCost, true))
	certBag := safeBag(t, asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}, certBagValue(t, cert.Raw))

	// The files have no MAC, which go-pkcs12 allows with an empty
	// passphrase; each encrypted part itself takes 2,048 iterations.
	onlyHidden := pfxOf(t, encryptedPart(t, safeContents(t, certBag, hidden)))
	_, _, err = ParseCreateRequest(body(t, noCallback, cred("apns_cert", obj{"p12": b64bytes(onlyHidden), "passphrase": ""})), testOptions())
	wantProblems(t, err, "providerCredentials[0].payload.p12: keeps its private key inside an encrypted part")

	visible := safeBag(t, oidShroudedKeyBag, shroudedKey(t, keyDER, 2048, false))
	both := pfxOf(t, encryptedPart(t, safeContents(t, certBag, hidden)), dataPart(t, safeContents(t, visible)))
	out, err := exposeP12Key(both, "")
	if err != nil {
		t.Fatal(err)
	}
	if first := authSafeTypes(t, out)[0]; !first.Equal(oidDataContent) {
		t.Fatalf("first part is %v, want the one whose key was checked", first)
	}
	// go-pkcs12 checks for a second key before decrypting it.
	if _, _, _, err := pkcs12.DecodeChain(out, ""); err == nil || !strings.Contains(err.Error(), "expected exactly one key bag") {
		t.Fatalf("DecodeChain = %v, want it to stop at the hidden key unopened", err)
	}
	_, _, err = ParseCreateRequest(body(t, noCallback, cred("apns_cert", obj{"p12": b64bytes(both), "passphrase": ""})), testOptions())
	wantProblems(t, err, "providerCredentials[0].payload.p12: is not a PKCS#12 file holding a certificate and its private key")

	// The same layout with only the checked key opens.
	good := pfxOf(t, encryptedPart(t, safeContents(t, certBag)), dataPart(t, safeContents(t, visible)))
	if _, _, err := ParseCreateRequest(body(t, noCallback, cred("apns_cert", obj{"p12": b64bytes(good), "passphrase": ""})), testOptions()); err != nil {
		t.Fatalf("hand-made p12 refused: %v", err)
	}
}

func authSafeTypes(t *testing.T, der []byte) []asn1.ObjectIdentifier {
	t.Helper()
	var pfx pfxPDU
	var authSafe []byte
	var parts []asn1.RawValue
	if _, err := asn1.Unmarshal(der, &pfx); err != nil {
		t.Fatal(err)
	}
	if _, err := asn1.Unmarshal(pfx.AuthSafe.Content.Bytes, &authSafe); err != nil {
		t.Fatal(err)
	}
	if _, err := asn1.Unmarshal(authSafe, &parts); err != nil {
		t.Fatal(err)
	}
	var out []asn1.ObjectIdentifier
	for _, p := range parts {
		var ci p12ContentInfo
		asn1.Unmarshal(p.FullBytes, &ci)
		out = append(out, ci.ContentType)
	}
	return out
}

// The builders below write the structures of RFC 7292 by hand, encrypted
// with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) and the empty password.

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func explicit0(b []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: b}
}

// pbes2 returns the PBES2 AlgorithmIdentifier and the ciphertext of plain.
// With garbage the ciphertext is random instead.
func pbes2(t *testing.T, plain []byte, iterations int, garbage bool) (pkix.AlgorithmIdentifier, []byte) {
	salt, iv := make([]byte, 8), make([]byte, 16)
	rand.Read(salt)
	rand.Read(iv)
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	padded := append(append([]byte{}, plain...), bytes.Repeat([]byte{byte(pad)}, pad)...)
	ct := make([]byte, len(padded))
	if garbage {
		rand.Read(ct)
	} else {
		key, err := pbkdf2.Key(sha256.New, "", salt, iterations, 32)
		if err != nil {
			t.Fatal(err)
		}
		block, _ := aes.NewCipher(key)
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, padded)
	}
	type algo = pkix.AlgorithmIdentifier
	kdfParams := mustMarshal(t, struct {
		Salt       []byte
		Iterations int
		PRF        algo
	}{salt, iterations, algo{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}, Parameters: asn1.NullRawValue}})
	params := mustMarshal(t, struct{ KDF, Enc algo }{
		algo{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdfParams}},
		algo{Algorithm: asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}, Parameters: asn1.RawValue{FullBytes: mustMarshal(t, iv)}},
	})
	return algo{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}, Parameters: asn1.RawValue{FullBytes: params}}, ct
}

func shroudedKey(t *testing.T, pkcs8 []byte, iterations int, garbage bool) []byte {
	alg, ct := pbes2(t, pkcs8, iterations, garbage)
	return mustMarshal(t, struct {
		Algorithm pkix.AlgorithmIdentifier
		Data      []byte
	}{alg, ct})
}

func certBagValue(t *testing.T, certDER []byte) []byte {
	return mustMarshal(t, struct {
		ID    asn1.ObjectIdentifier
		Value asn1.RawValue
	}{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}, explicit0(mustMarshal(t, certDER))})
}

func safeBag(t *testing.T, id asn1.ObjectIdentifier, value []byte) asn1.RawValue {
	return asn1.RawValue{FullBytes: mustMarshal(t, struct {
		ID    asn1.ObjectIdentifier
		Value asn1.RawValue
	}{id, explicit0(value)})}
}

func safeContents(t *testing.T, bags ...asn1.RawValue) []byte { return mustMarshal(t, bags) }

func dataPart(t *testing.T, contents []byte) asn1.RawValue {
	return asn1.RawValue{FullBytes: mustMarshal(t, p12ContentInfo{ContentType: oidDataContent, Content: explicit0(mustMarshal(t, contents))})}
}

func encryptedPart(t *testing.T, contents []byte) asn1.RawValue {
	alg, ct := pbes2(t, contents, 2048, false)
	ed := mustMarshal(t, struct {
		Version int
		Info    struct {
			ContentType asn1.ObjectIdentifier
			Algorithm   pkix.AlgorithmIdentifier
			Content     []byte `asn1:"tag:0,optional"`
		}
	}{0, struct {
		ContentType asn1.ObjectIdentifier
		Algorithm   pkix.AlgorithmIdentifier
		Content     []byte `asn1:"tag:0,optional"`
	}{oidDataContent, alg, ct}})
	return asn1.RawValue{FullBytes: mustMarshal(t, p12ContentInfo{ContentType: oidEncryptedDataContent, Content: explicit0(ed)})}
}

func pfxOf(t *testing.T, parts ...asn1.RawValue) []byte {
	authSafe := mustMarshal(t, parts)
	return mustMarshal(t, struct {
		Version  int
		AuthSafe p12ContentInfo
	}{3, p12ContentInfo{ContentType: oidDataContent, Content: explicit0(mustMarshal(t, authSafe))}})
}
