package channels

// GroupState returns what the broker keeps per group: rings, presence
// lists, and the references of its total-cap queue.
func (b *MemoryBroker) GroupState() (rings, presence, queued int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.history), len(b.presence), len(b.order) - b.orderHead
}
