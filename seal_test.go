package pushgate_test

import (
	"strings"
	"testing"

	"github.com/pushgate/pushgate"
)

func mustKeys(t *testing.T, s string) [][]byte {
	t.Helper()
	keys, err := pushgate.ParseMasterKeys(s)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestKeyringSealOpen(t *testing.T) {
	keys := mustKeys(t, pushgate.NewMasterKey())
	k, err := pushgate.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	id := pushgate.KeyID(keys[0])
	sealed := k.Seal([]byte("s3cret"), []byte("app-secret:a"))
	if strings.Contains(sealed, "s3cret") || !strings.HasPrefix(sealed, "pgs1:"+id+":") {
		t.Fatalf("sealed value %q", sealed)
	}
	if again := k.Seal([]byte("s3cret"), []byte("app-secret:a")); again == sealed {
		t.Fatal("two seals of one value are equal: nonce reused")
	}
	pt, err := k.Open(sealed, []byte("app-secret:a"))
	if err != nil || string(pt) != "s3cret" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	if _, err := k.Open(sealed, []byte("app-secret:b")); err == nil {
		t.Fatal("opened a value bound to another row")
	}
	// One character well inside the payload (every bit of it counts,
	// unlike the last one's), changed to another.
	i := len(sealed) - 10
	c := byte('A')
	if sealed[i] == 'A' {
		c = 'B'
	}
	tampered := sealed[:i] + string(c) + sealed[i+1:]
	if _, err := k.Open(tampered, []byte("app-secret:a")); err == nil {
		t.Fatal("opened a tampered value")
	}
	for _, bad := range []string{"", "plain", "pgs1:x", "pgs2:abc:def", "pgs1:" + id + ":!!"} {
		if _, err := k.Open(bad, nil); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

func TestKeyringRotation(t *testing.T) {
	oldKey, newKey := pushgate.NewMasterKey(), pushgate.NewMasterKey()
	old, _ := pushgate.NewKeyring(mustKeys(t, oldKey)...)
	sealed := old.Seal([]byte("v"), nil)

	rotated, err := pushgate.NewKeyring(mustKeys(t, newKey+","+oldKey)...)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := rotated.Open(sealed, nil); err != nil || string(pt) != "v" {
		t.Fatalf("rotated keyring cannot open old value: %v", err)
	}
	// The first key seals: what the rotated keyring seals opens without the old key.
	fresh := rotated.Seal([]byte("v"), nil)
	if !strings.HasPrefix(fresh, "pgs1:"+pushgate.KeyID(mustKeys(t, newKey)[0])+":") {
		t.Errorf("the rotated keyring sealed %q, not with its first key", fresh)
	}
	onlyNew, _ := pushgate.NewKeyring(mustKeys(t, newKey)...)
	if pt, err := onlyNew.Open(fresh, nil); err != nil || string(pt) != "v" {
		t.Fatalf("a value sealed after the rotation needs the old key: %v", err)
	}
	if _, err := onlyNew.Open(sealed, nil); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Fatalf("open with a missing key: %v", err)
	}
}

func TestParseMasterKeys(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	for _, good := range []string{hex, pushgate.NewMasterKey(), " " + hex + " , " + pushgate.NewMasterKey()} {
		if _, err := pushgate.ParseMasterKeys(good); err != nil {
			t.Errorf("ParseMasterKeys(%q): %v", good, err)
		}
	}
	for _, bad := range []string{"", ",", "short", strings.Repeat("a", 44), "zz" + hex[2:]} {
		if _, err := pushgate.ParseMasterKeys(bad); err == nil {
			t.Errorf("ParseMasterKeys(%q) accepted", bad)
		}
	}
}
