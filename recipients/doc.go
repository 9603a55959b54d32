// Package recipients holds receivers: who one message goes to (a device
// token, a Web Push subscription, or for a websocket credential a user id
// of the app), parsed and checked against the type of the credential it
// names, with the limits of one send (1000 receivers) and de-duplication
// within a send (by device, or by user for websocket receivers). A
// websocket receiver's user id follows the inbox's rule for user ids; the
// stores keep it where they keep a token (Receiver.Address). A receiver's
// text must be storable on every backend (UTF-8 without NUL), and a Web
// Push endpoint whose host is a literal internal address is refused
// through the node's SSRF guard.
package recipients
