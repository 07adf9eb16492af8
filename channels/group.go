package channels

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/switchboard-go/switchboard/internal/ownstack"
)

// AddResult is what AddToGroup did.
type AddResult uint8

const (
	// ChannelAdded: the channel joined an existing group.
	ChannelAdded AddResult = iota + 1
	// GroupCreated: the channel joined and the group was created for it.
	GroupCreated
	// AlreadyMember: nothing changed.
	AlreadyMember
)

func (r AddResult) String() string {
	switch r {
	case ChannelAdded:
		return "channel added"
	case GroupCreated:
		return "group created"
	case AlreadyMember:
		return "already a member"
	}
	return fmt.Sprintf("AddResult(%d)", r)
}

// RemoveResult is what RemoveFromGroup did.
type RemoveResult uint8

const (
	// ChannelRemoved: the channel left the group.
	ChannelRemoved RemoveResult = iota + 1
	// GroupRemoved: the channel left and the group, now empty, was removed.
	GroupRemoved
	// NotMember: nothing changed.
	NotMember
)

func (r RemoveResult) String() string {
	switch r {
	case ChannelRemoved:
		return "channel removed"
	case GroupRemoved:
		return "group removed"
	case NotMember:
		return "not a member"
	}
	return fmt.Sprintf("RemoveResult(%d)", r)
}

func (b *ChannelBox) checkGroup(name string) error {
	if name == "" || len(name) > b.opts.MaxGroupName || !utf8.ValidString(name) {
		return fmt.Errorf("%w: %q must be 1 to %d bytes of UTF-8", ErrInvalidGroup, truncate(name, 40), b.opts.MaxGroupName)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// AddToGroup adds a local channel to a group, creating the group on its
// first member, and records the channel's presence there. Safe during
// sends to the group. The local change stands even when the broker call
// that publishes it fails; the error is returned.
func (b *ChannelBox) AddToGroup(ctx context.Context, group, channelID string) (res AddResult, err error) {
	ownstack.Run(func() { res, err = b.addToGroup(ctx, group, channelID) })
	return res, err
}

func (b *ChannelBox) addToGroup(ctx context.Context, group, channelID string) (AddResult, error) {
	if err := b.checkGroup(group); err != nil {
		return 0, err
	}
	ch, err := b.lockChannel(channelID)
	if err != nil {
		return 0, err
	}
	defer ch.opMu.Unlock()
	if slices.Contains(ch.groups, group) {
		b.mu.Unlock()
		return AlreadyMember, nil
	}
	if len(ch.groups) >= b.opts.MaxGroupsPerChannel {
		b.mu.Unlock()
		return 0, fmt.Errorf("%w: at most %d", ErrTooManyGroups, b.opts.MaxGroupsPerChannel)
	}
	g := b.groups[group]
	res := ChannelAdded
	if g == nil {
		g = &memberSet{index: make(map[*Channel]int)}
		b.groups[group] = g
		res = GroupCreated
	}
	ch.groups = append(ch.groups, group)
	g.mu.Lock()
	g.index[ch] = len(g.members)
	g.members = append(g.members, ch)
	g.mu.Unlock()
	b.mu.Unlock()

	var serr error
	if res == GroupCreated {
		serr = b.broker.Subscribe(ctx, b.handler, group)
	}
	return res, errors.Join(serr, b.broker.AddPresence(ctx, group, PresenceInfo{ChannelID: ch.id, User: ch.opts.User}))
}

// RemoveFromGroup takes a local channel out of a group, removing the group
// when it empties (its history stays, in the broker).
func (b *ChannelBox) RemoveFromGroup(ctx context.Context, group, channelID string) (RemoveResult, error) {
	if err := b.checkGroup(group); err != nil {
		return 0, err
	}
	ch, err := b.lockChannel(channelID)
	if err != nil {
		return 0, err
	}
	defer ch.opMu.Unlock()
	i := slices.Index(ch.groups, group)
	if i < 0 {
		b.mu.Unlock()
		return NotMember, nil
	}
	ch.groups = slices.Delete(ch.groups, i, i+1)
	emptied := b.leaveLocked(ch, group)
	b.mu.Unlock()

	err = b.broker.RemovePresence(ctx, group, ch.id)
	if emptied {
		if uerr := b.broker.Unsubscribe(ctx, b.handler, group); err == nil {
			err = uerr
		}
		return GroupRemoved, err
	}
	return ChannelRemoved, err
}

// lockChannel finds a local channel and returns it with its opMu and b.mu
// held (the caller unlocks both), or an error with neither held.
func (b *ChannelBox) lockChannel(id string) (*Channel, error) {
	b.mu.RLock()
	ch, closed := b.channels[id], b.closed
	b.mu.RUnlock()
	switch {
	case closed:
		return nil, ErrBoxClosed
	case ch == nil:
		return nil, ErrNoSuchChannel
	}
	ch.opMu.Lock()
	b.mu.Lock()
	if ch.removed {
		b.mu.Unlock()
		ch.opMu.Unlock()
		return nil, ErrNoSuchChannel
	}
	return ch, nil
}

// leaveLocked removes ch from group's members and reports whether the
// group emptied (and was deleted); the caller takes the group out of
// ch.groups. b.mu must be held.
func (b *ChannelBox) leaveLocked(ch *Channel, name string) bool {
	g := b.groups[name]
	if g == nil {
		return false
	}
	g.mu.Lock()
	if i, ok := g.index[ch]; ok {
		last := len(g.members) - 1
		g.members[i] = g.members[last]
		g.index[g.members[i]] = i
		g.members[last] = nil
		g.members = g.members[:last]
		delete(g.index, ch)
		delete(g.replayed, ch)
	}
	empty := len(g.members) == 0
	g.mu.Unlock()
	if empty {
		delete(b.groups, name)
	}
	return empty
}

// Groups returns the names of the groups with local members, sorted.
func (b *ChannelBox) Groups() []string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return sortedKeys(b.groups)
}

// Members returns the group's local channels.
func (b *ChannelBox) Members(group string) []*Channel {
	b.mu.RLock()
	g := b.groups[group]
	b.mu.RUnlock()
	if g == nil {
		return nil
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	return append([]*Channel(nil), g.members...)
}

// GroupsOf returns the groups a local channel belongs to, sorted.
func (b *ChannelBox) GroupsOf(channelID string) []string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	ch := b.channels[channelID]
	if ch == nil {
		return nil
	}
	return slices.Sorted(slices.Values(ch.groups))
}
