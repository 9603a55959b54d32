package apps_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/storage/sqlstore"
)

func TestSettings(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		svc := newService(t, db, apps.Options{})
		creds, err := svc.Create(ctx, "shop")
		if err != nil {
			t.Fatal(err)
		}
		url := "https://shop.example/api/whoami?v=1"
		origins := []string{"https://Shop.Example:443", "http://localhost:3000", "https://shop.example/", "http://[::1]:80"}
		app, err := svc.UpdateSettings(ctx, creds.AppID, apps.SettingsPatch{ConnectAuthURL: &url, AllowedOrigins: &origins})
		want := []string{"https://shop.example", "http://localhost:3000", "http://[::1]"}
		if err != nil || app.ConnectAuthURL != url || !slices.Equal(app.AllowedOrigins, want) || app.SealedSecret != "" {
			t.Fatalf("set: %+v %v", app, err)
		}
		if !app.OriginAllowed("https://shop.example") || app.OriginAllowed("https://evil.example") || app.OriginAllowed("null") {
			t.Fatal("OriginAllowed")
		}
		// Absent fields stay; an empty one clears.
		empty := ""
		if app, err = svc.UpdateSettings(ctx, creds.AppID, apps.SettingsPatch{ConnectAuthURL: &empty}); err != nil ||
			app.ConnectAuthURL != "" || !slices.Equal(app.AllowedOrigins, want) {
			t.Fatalf("clear the URL: %+v %v", app, err)
		}
		got, err := svc.GetByKey(ctx, creds.Key)
		if err != nil || got.ConnectAuthURL != "" || !slices.Equal(got.AllowedOrigins, want) {
			t.Fatalf("read back: %+v %v", got, err)
		}
		none := []string{}
		if app, err = svc.UpdateSettings(ctx, creds.AppID, apps.SettingsPatch{AllowedOrigins: &none}); err != nil || len(app.AllowedOrigins) != 0 || app.AllowedOrigins == nil {
			t.Fatalf("clear the origins: %+v %v", app, err)
		}
		// Client events: off by default, on, and left on by a patch of other fields.
		if got.ClientEvents {
			t.Fatal("client events on by default")
		}
		on := true
		if app, err = svc.UpdateSettings(ctx, creds.AppID, apps.SettingsPatch{ClientEvents: &on}); err != nil || !app.ClientEvents {
			t.Fatalf("client events on: %+v %v", app, err)
		}
		if _, err = svc.UpdateSettings(ctx, creds.AppID, apps.SettingsPatch{ConnectAuthURL: &url}); err != nil {
			t.Fatal(err)
		}
		if got, err = svc.GetByKey(ctx, creds.Key); err != nil || !got.ClientEvents || got.ConnectAuthURL != url {
			t.Fatalf("client events read back: %+v %v", got, err)
		}
		if _, err := svc.UpdateSettings(ctx, pushgate.NewID(), apps.SettingsPatch{ConnectAuthURL: &url}); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("no such app: %v", err)
		}
	})
}

func TestSettingsValidation(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	svc := newService(t, db, apps.Options{})
	creds, err := svc.Create(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	for raw, want := range map[string]string{
		"http://shop.example/whoami":         "connectAuthUrl: must be an absolute https URL",
		"https://":                           "connectAuthUrl: must be an absolute https URL",
		"/whoami":                            "connectAuthUrl: must be an absolute https URL",
		"https://user:pw@shop.example/":      "connectAuthUrl: must not hold a user name",
		"https://shop.example/#x":            "connectAuthUrl: must not hold a fragment",
		"https://10.0.0.1/":                  "connectAuthUrl: 10.0.0.1 is a forbidden address (private)",
		"https://2130706433/":                "connectAuthUrl: 2130706433 is a forbidden address",
		"https://a.localhost/":               "connectAuthUrl: a.localhost is a forbidden address",
		"https://shop.example/" + long(2048): "connectAuthUrl: must be at most 2048 characters",
	} {
		_, err := svc.UpdateSettings(context.Background(), creds.AppID, apps.SettingsPatch{ConnectAuthURL: &raw})
		if e := fields(err); len(e) != 1 || !strings.HasPrefix(e[0], want) {
			t.Errorf("%.60s: %v, want %q", raw, e, want)
		}
	}
	for _, o := range []string{"*", "https://*.shop.example", "shop.example", "https://shop.example/app", "https://shop.example?x",
		"ftp://shop.example", "https://u@shop.example", "null", long(300)} {
		list := []string{"https://ok.example", o}
		_, err := svc.UpdateSettings(context.Background(), creds.AppID, apps.SettingsPatch{AllowedOrigins: &list})
		if e := fields(err); len(e) != 1 || !strings.HasPrefix(e[0], "allowedOrigins[1]: ") {
			t.Errorf("origin %.40q: %v", o, e)
		}
	}
	many := make([]string, apps.MaxAllowedOrigins+1)
	for i := range many {
		many[i] = "https://o" + strings.Repeat("x", i) + ".example"
	}
	if _, err := svc.UpdateSettings(context.Background(), creds.AppID, apps.SettingsPatch{AllowedOrigins: &many}); len(fields(err)) != 1 {
		t.Errorf("too many origins: %v", err)
	}
	// With ssrf_allow, the operator's choice, an internal address may be set.
	allowed, _ := pushgate.NewSSRFGuard("10.0.0.0/8")
	svc = apps.NewService(db.Apps(), nil, apps.Options{Guard: allowed})
	u := "https://10.0.0.1/whoami"
	if _, err := svc.UpdateSettings(context.Background(), creds.AppID, apps.SettingsPatch{ConnectAuthURL: &u}); err != nil {
		t.Fatalf("allowed by ssrf_allow: %v", err)
	}
}

func long(n int) string { return strings.Repeat("a", n) }

func fields(err error) []string {
	var e *pushgate.Error
	if !errors.As(err, &e) {
		return nil
	}
	return e.Fields
}
