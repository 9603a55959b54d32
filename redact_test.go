package pushgate

import "testing"

func TestRedactURL(t *testing.T) {
	for raw, want := range map[string]string{
		"":                                                       "",
		"https://hooks.example.com/in":                           "https://hooks.example.com/in",
		"https://u:p@hooks.example.com/in":                       "https://xxxxx@hooks.example.com/in",
		"https://token@hooks.example.com/":                       "https://xxxxx@hooks.example.com/",
		"https://h.example/in?token=s&v=1":                       "https://h.example/in?token=xxxxx&v=xxxxx",
		"https://h.example/in?s3cr3t":                            "https://h.example/in?xxxxx",
		"https://h.example/in?a=1&&b":                            "https://h.example/in?a=xxxxx&&xxxxx",
		"https://h.example/in#access=s3":                         "https://h.example/in#xxxxx",
		"postgres://pg:pw@db:5432/x?password=pw&sslmode=disable": "postgres://xxxxx@db:5432/x?password=xxxxx&sslmode=xxxxx",
		"redis://:pw@127.0.0.1:6379/0":                           "redis://xxxxx@127.0.0.1:6379/0",
		"mailto:ops@example.com":                                 "mailto:xxxxx",
		"http://[::1":                                            "(unparsable URL)",
	} {
		if got := RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}
