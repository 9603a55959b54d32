// Package recipients holds receivers: who one message goes to (a device
// token, or a Web Push subscription), parsed and checked against the type of
// the credential it names, with the limits of one send (1000 receivers) and
// de-duplication within a send. A receiver's text must be storable on every
// backend (UTF-8 without NUL), and a Web Push endpoint whose host is a
// literal internal address is refused through the node's SSRF guard.
package recipients
