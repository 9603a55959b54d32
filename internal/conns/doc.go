// Package conns tracks the long-lived connections that http.Server cannot
// end on shutdown: hijacked ones (WebSocket), which it no longer sees, and
// streams (SSE), which it waits for until its deadline.
//
// A handler registers a connection with Registry.Track once it holds it,
// giving the function that ends it (a WebSocket sends its close frame,
// then closes), and calls the returned done function when the connection
// has ended, whatever ended it. server.Server.Shutdown calls
// Registry.Shutdown once its listener is closed.
//
// The realtime package, which imports only the module root, will take a
// registry through an interface of its own ({Track(func(context.Context))
// func()}); the server passes its Registry.
package conns
