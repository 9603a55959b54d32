// Package lograte bounds how many lines a kind of event writes to the log:
// a storm of failures (a push service down, a consumer's callback
// failing) must not flood the log or slow the paths that report them.
//
// Each key (a reason from a closed set: never a token, an app id or a
// URL, as every key is kept until the process ends) may write Burst lines
// per Window. Lines past that are counted and dropped; the next line of
// that key in a later window is preceded by one summary line saying how
// many were suppressed. Metrics count every event; the log keeps samples.
//
// lograte must never block on I/O of its own or start goroutines.
package lograte

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Options tune a Limiter.
type Options struct {
	// Burst is how many lines one key may write per Window (default 5).
	Burst int
	// Window is the length of a window (default 1 s).
	Window time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Limiter writes warnings to a logger, at most Burst lines per key and
// window. It is safe for concurrent use.
type Limiter struct {
	log  *slog.Logger
	opts Options

	mu   sync.Mutex
	keys map[string]*window
}

type window struct {
	start      time.Time
	written    int
	suppressed int
}

// New returns a Limiter writing to log.
func New(log *slog.Logger, opts Options) *Limiter {
	if opts.Burst <= 0 {
		opts.Burst = 5
	}
	if opts.Window <= 0 {
		opts.Window = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Limiter{log: log, opts: opts, keys: map[string]*window{}}
}

// Warn writes msg with attrs at warn level, with a "reason" attribute
// set to key, unless key has written its Burst lines in this window; then
// it only counts it.
func (l *Limiter) Warn(ctx context.Context, key, msg string, attrs ...slog.Attr) {
	if !l.log.Enabled(ctx, slog.LevelWarn) {
		return
	}
	write, suppressed := l.allow(key)
	if suppressed > 0 {
		l.log.LogAttrs(ctx, slog.LevelWarn, "log lines suppressed (too many of one reason)",
			slog.String("reason", key), slog.Int("suppressed", suppressed), slog.Duration("window", l.opts.Window))
	}
	if write {
		l.log.LogAttrs(ctx, slog.LevelWarn, msg, append([]slog.Attr{slog.String("reason", key)}, attrs...)...)
	}
}

// allow reports whether key may write a line now, and how many of its
// lines were suppressed in the window that has just ended, if one has.
func (l *Limiter) allow(key string) (write bool, suppressed int) {
	now := l.opts.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.keys[key]
	if w == nil {
		w = &window{start: now}
		l.keys[key] = w
	}
	if now.Sub(w.start) >= l.opts.Window {
		suppressed = w.suppressed
		w.start, w.written, w.suppressed = now, 0, 0
	}
	if w.written >= l.opts.Burst {
		w.suppressed++
		return false, suppressed
	}
	w.written++
	return true, suppressed
}
