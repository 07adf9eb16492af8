package channels

// ReserveGroup marks name as a group the program opens itself (an event
// endpoint's all-connections group, say), which code that takes group
// names from clients must refuse (see IsReserved). It reports whether
// name was free; reserving it again is harmless. The box keeps the names
// until it is discarded.
func (b *ChannelBox) ReserveGroup(name string) bool {
	_, taken := b.reserved.LoadOrStore(name, struct{}{})
	return !taken
}

// IsReserved reports whether name was reserved with ReserveGroup.
func (b *ChannelBox) IsReserved(name string) bool {
	_, ok := b.reserved.Load(name)
	return ok
}
