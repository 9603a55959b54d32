// Package chaos holds the chaos suite (issue 18): Go tests that run the
// real pushgate binary on a PostgreSQL cluster and a redis-server of their
// own (started on free ports and always stopped), inject one fault each
// (SIGKILL, Redis flushed or down, PostgreSQL down or restarted, a
// provider throttling, a webhook consumer down, two nodes killed in turn)
// and measure what was accepted, delivered, delivered twice, and whether
// each webhook event arrived once, with the recovery time.
//
// The tests skip unless PUSHGATE_TEST_CHAOS is set: 1 runs the short form
// (CI), long the long one; docs/reliability.md gives the figures and how
// to run it.
package chaos
