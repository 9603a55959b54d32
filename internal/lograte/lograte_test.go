package lograte_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pushgate/pushgate/internal/lograte"
)

type lines struct{ buf bytes.Buffer }

func (l *lines) all(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, s := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if s == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("log line %q: %v", s, err)
		}
		out = append(out, m)
	}
	return out
}

// TestStormIsLimitedPerReason sends 1000 failures of one reason and 3 of
// another within one window: the first reason writes Burst lines, the
// other all of its own, and the next window starts with one line that
// counts what was suppressed.
func TestStormIsLimitedPerReason(t *testing.T) {
	var out lines
	now := time.Unix(1000, 0)
	l := lograte.New(slog.New(slog.NewJSONHandler(&out.buf, nil)), lograte.Options{Burst: 5, Window: time.Second, Now: func() time.Time { return now }})
	ctx := context.Background()
	for i := range 1000 {
		l.Warn(ctx, "unregistered", "message failed", slog.Int("n", i))
		if i < 3 {
			l.Warn(ctx, "bad_credentials", "message failed", slog.Int("n", i))
		}
	}
	got := out.all(t)
	count := map[string]int{}
	for _, m := range got {
		if m["level"] != "WARN" || m["msg"] != "message failed" {
			t.Fatalf("unexpected line %v", m)
		}
		count[m["reason"].(string)]++
	}
	if count["unregistered"] != 5 || count["bad_credentials"] != 3 || len(got) != 8 {
		t.Fatalf("lines per reason = %v (%d lines), want 5 unregistered and 3 bad_credentials", count, len(got))
	}

	out.buf.Reset()
	now = now.Add(time.Second)
	l.Warn(ctx, "unregistered", "message failed", slog.Int("n", 1000))
	got = out.all(t)
	if len(got) != 2 {
		t.Fatalf("next window wrote %d lines, want a summary and the line: %v", len(got), got)
	}
	if got[0]["reason"] != "unregistered" || got[0]["suppressed"] != float64(995) {
		t.Fatalf("summary = %v, want 995 suppressed for unregistered", got[0])
	}
	if got[1]["msg"] != "message failed" || got[1]["n"] != float64(1000) {
		t.Fatalf("line after the summary = %v", got[1])
	}
}

// TestQuietLoggerWritesNothing: a logger that drops warnings
// costs the caller no counting and writes nothing.
func TestQuietLoggerWritesNothing(t *testing.T) {
	var out lines
	l := lograte.New(slog.New(slog.NewJSONHandler(&out.buf, &slog.HandlerOptions{Level: slog.LevelError})), lograte.Options{})
	for range 10 {
		l.Warn(context.Background(), "x", "message failed")
	}
	if out.buf.Len() != 0 {
		t.Fatalf("wrote %q", out.buf.String())
	}
}
