// Command embedded is a plain net/http application with a pushgate node
// inside it: the node's API and realtime routes are mounted under /push/,
// and the application sends a notification from its own code when an
// order ships (POST /orders/{id}/shipped?user=alice).
//
//	go run ./examples/embedded
//	# create a client token with the API key it prints, connect a device to
//	# ws://localhost:8000/push/v1/ws?token=..., then:
//	curl -X POST 'localhost:8000/orders/A-17/shipped?user=alice'
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"

	"github.com/pushgate/pushgate/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg := server.Defaults()
	cfg.DataDir = "embedded-data"
	// The node's own listener stays on loopback; the application serves
	// the node's handler on its own address.
	cfg.HTTPAddr = "127.0.0.1:0"
	node, err := server.New(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	if err := node.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer node.Shutdown(context.Background())
	appID, err := firstAppID(ctx, node)
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/push/", http.StripPrefix("/push", node.Handler()))
	mux.HandleFunc("POST /orders/{id}/shipped", func(w http.ResponseWriter, r *http.Request) {
		extras, _ := json.Marshal(map[string]string{"orderId": r.PathValue("id")})
		id, n, err := node.Notify(r.Context(), appID, []string{r.URL.Query().Get("user")}, server.Notification{
			Title: "Order shipped", Message: "Order " + r.PathValue("id") + " is on its way", Priority: 7, Extras: extras,
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "notification %s stored for %d user(s)\n", id, n)
	})
	app := &http.Server{Addr: "127.0.0.1:8000", Handler: mux}
	go func() {
		<-ctx.Done()
		app.Shutdown(context.Background())
	}()
	log.Printf("listening on http://%s (pushgate under /push/)", app.Addr)
	if err := app.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

// firstAppID is the app the node created on its first start (its API key
// is printed then, once), or else the first app the node lists.
func firstAppID(ctx context.Context, node *server.Server) (string, error) {
	if creds, ok := node.FirstApp(); ok {
		log.Printf("first app %s, API key %s (shown once)", creds.AppID, creds.APIKey)
		return creds.AppID, nil
	}
	list, err := node.Apps.List(ctx)
	if err != nil || len(list) == 0 {
		return "", fmt.Errorf("no app: %v", err)
	}
	return list[0].ID, nil
}
