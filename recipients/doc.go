// Package recipients holds receivers: who one message goes to (a device
// token, or a Web Push subscription), parsed and checked against the type of
// the credential it names, with the limits of one send (1000 receivers) and
// de-duplication within a send.
package recipients
