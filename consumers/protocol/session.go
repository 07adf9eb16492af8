package protocol

// SessionParam is the handshake's query parameter by which a client names
// its session: 16 to 64 letters, digits, '-' and '_', random, and the
// same on every connection of one client session. A server keeps the
// answer to each event with a ref for a while (events.EventOptions.DedupWindow),
// so that the event sent again with the same ref after a reconnect of the
// same session is answered again and handled once. Without it, events are
// handled every time they come.
const SessionParam = "sb_session"

// ValidSession reports whether s may name a session (see SessionParam).
func ValidSession(s string) bool {
	if len(s) < 16 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
