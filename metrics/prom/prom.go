// Package prom exposes Switchboard's metrics to Prometheus. It is the only
// package of the module that imports the Prometheus client.
//
//	m := prom.New(&prom.Options{Tracker: tracker})
//	box := channels.NewBox(&channels.Options{Metrics: m})
//	m.Watch(box)
//	rt := router.NewWithOptions(&router.Options{WebSocket: &websocket.Options{Tracker: tracker, Metrics: m}})
//	mux.Handle("/metrics", m.Handler()) // or register m with your own prometheus.Registerer
//
// Metrics (with the default namespace "switchboard"):
//
//	switchboard_connections                 gauge    open connections (of the Tracker)
//	switchboard_outbound_queue_bytes        gauge    bytes waiting in outbound queues
//	switchboard_connections_accepted_total  counter  completed handshakes
//	switchboard_connections_rejected_total  counter  refused handshakes, by reason
//	switchboard_connections_closed_total    counter  ended connections, by close code
//	switchboard_messages_in_total, _out_total, switchboard_bytes_in_total, _out_total
//	switchboard_channels, switchboard_users, switchboard_groups,
//	switchboard_group_memberships, switchboard_largest_group   gauges of the boxes
//	switchboard_history_entries, switchboard_history_bytes     gauges (brokers that can tell)
//	switchboard_broker_call_seconds         histogram by op; _errors_total by op
//	switchboard_recoveries_total            counter  joins from a position, by result (recovered, missed)
//	switchboard_pipeline_publish_seconds    histogram of a network broker's publishes, from queued
//	                                        to answered, by kind (saved, unsaved)
//	switchboard_pipeline_errors_total       counter  publishes that failed, by kind and reason
//	                                        (unavailable, busy, refused)
//	switchboard_pipeline_batch_messages     histogram of the messages per round trip
//	switchboard_pipeline_batch_seconds      histogram of the round trips
//	switchboard_pipeline_pending_messages, switchboard_pipeline_pending_bytes
//	                                        gauges of what waits for the broker's server
//	                                        (brokers that queue, channels.PublishQueue)
//	switchboard_broker_shard_up             gauge    1 while a shard of the broker is usable, 0 while
//	                                        not, by shard (its index; brokers that are a
//	                                        channels.ShardedBroker)
//	switchboard_broker_shard_pending_bytes  gauge    what waits for each shard's server, by shard
//
// For the pipeline's series, give the collector to the broker too:
// redisbroker.Options{Metrics: m}.
//
// No label holds a payload, a user, a group or a connection id, so the
// series stay few.
package prom

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchboard-go/switchboard/channels"
	"github.com/switchboard-go/switchboard/websocket"
)

// Options say what the collector reads at scrape time.
type Options struct {
	// Namespace prefixes every metric. Defaults to "switchboard".
	Namespace string
	// Tracker gives the open connections and the queued bytes.
	Tracker *websocket.Tracker
}

// Metrics is a prometheus.Collector that is also the websocket.Metrics and
// channels.Metrics to give the connections and boxes.
type Metrics struct {
	opts  Options
	mu    sync.Mutex
	boxes []*channels.ChannelBox

	accepted   prometheus.Counter
	rejected   *prometheus.CounterVec
	closed     *prometheus.CounterVec
	msgIn      prometheus.Counter
	msgOut     prometheus.Counter
	bytesIn    prometheus.Counter
	bytesOut   prometheus.Counter
	brokerTime *prometheus.HistogramVec
	brokerErrs *prometheus.CounterVec
	recoveries *prometheus.CounterVec
	pubTime    *prometheus.HistogramVec
	pubErrs    *prometheus.CounterVec
	batchSize  prometheus.Histogram
	batchTime  prometheus.Histogram

	pendingMsgs, pendingBytes, shardUp, shardPending                              *prometheus.Desc
	conns, queued, chans, users, groups, members, largest, histEntries, histBytes *prometheus.Desc
}

var (
	_ websocket.Metrics    = (*Metrics)(nil)
	_ channels.Metrics     = (*Metrics)(nil)
	_ prometheus.Collector = (*Metrics)(nil)
)

// New returns the collector; register it with a prometheus.Registerer.
func New(opts *Options) *Metrics {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Namespace == "" {
		o.Namespace = "switchboard"
	}
	ns := o.Namespace
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help})
	}
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, nil, nil)
	}
	return &Metrics{
		opts:     o,
		accepted: counter("connections_accepted_total", "Completed WebSocket handshakes."),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "connections_rejected_total",
			Help: "Handshakes answered with an HTTP error, by reason."}, []string{"reason"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "connections_closed_total",
			Help: "Connections ended, by close code (slow consumer 4001, pong timeout 4002, ...)."}, []string{"code"}),
		msgIn:    counter("messages_in_total", "Data messages received."),
		msgOut:   counter("messages_out_total", "Data messages written to the network."),
		bytesIn:  counter("bytes_in_total", "Payload bytes of the data messages received."),
		bytesOut: counter("bytes_out_total", "Frame bytes of the data messages written."),
		brokerTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "broker_call_seconds",
			Help:    "Time of the broker calls made for sends, by op.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .1, .5, 2}}, []string{"op"}),
		brokerErrs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "broker_call_errors_total",
			Help: "Broker calls made for sends that failed, by op."}, []string{"op"}),
		recoveries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "recoveries_total",
			Help: "Joins from a history position, by result."}, []string{"result"}),
		pubTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "pipeline_publish_seconds",
			Help:    "Time from a publish taken into a network broker's pipeline to its server's answer, by kind.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .1, .5, 2}}, []string{"kind"}),
		pubErrs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "pipeline_errors_total",
			Help: "Publishes of a network broker's pipeline that failed, by kind and reason."}, []string{"kind", "reason"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "pipeline_batch_messages",
			Help: "Messages a network broker's pipeline wrote in one round trip.", Buckets: prometheus.ExponentialBuckets(1, 4, 7)}),
		batchTime: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "pipeline_batch_seconds",
			Help:    "Round trips of a network broker's pipeline.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .1, .5, 2}}),
		pendingMsgs:  desc("pipeline_pending_messages", "Messages a network broker has taken in and its server not yet answered."),
		pendingBytes: desc("pipeline_pending_bytes", "Bytes of the messages a network broker has taken in and its server not yet answered."),
		shardUp: prometheus.NewDesc(prometheus.BuildFQName(ns, "", "broker_shard_up"),
			"1 while a shard of the broker is usable (connected, not refusing sends), 0 while not.", []string{"shard"}, nil),
		shardPending: prometheus.NewDesc(prometheus.BuildFQName(ns, "", "broker_shard_pending_bytes"),
			"Bytes of the messages a shard's pipeline has taken in and its server not yet answered.", []string{"shard"}, nil),
		conns:       desc("connections", "Open WebSocket connections."),
		queued:      desc("outbound_queue_bytes", "Bytes waiting in the connections' outbound queues."),
		chans:       desc("channels", "Channels registered in the boxes."),
		users:       desc("users", "Distinct users with a channel in the boxes."),
		groups:      desc("groups", "Groups with local members."),
		members:     desc("group_memberships", "Sum of the groups' local sizes."),
		largest:     desc("largest_group", "Local members of the largest group."),
		histEntries: desc("history_entries", "Entries kept in the groups' histories (brokers that can tell)."),
		histBytes:   desc("history_bytes", "Bytes of the entries kept in the groups' histories (brokers that can tell)."),
	}
}

func (m *Metrics) vectors() []prometheus.Collector {
	return []prometheus.Collector{m.accepted, m.rejected, m.closed, m.msgIn, m.msgOut, m.bytesIn, m.bytesOut,
		m.brokerTime, m.brokerErrs, m.recoveries, m.pubTime, m.pubErrs, m.batchSize, m.batchTime}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.vectors() {
		c.Describe(ch)
	}
	for _, d := range []*prometheus.Desc{m.conns, m.queued, m.chans, m.users, m.groups, m.members, m.largest, m.histEntries, m.histBytes, m.pendingMsgs, m.pendingBytes, m.shardUp, m.shardPending} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.vectors() {
		c.Collect(ch)
	}
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	if t := m.opts.Tracker; t != nil {
		gauge(m.conns, t.Len())
		gauge(m.queued, t.QueuedBytes())
	}
	m.mu.Lock()
	boxes := m.boxes
	m.mu.Unlock()
	if len(boxes) > 0 {
		var s channels.Stats
		sized, queues := false, false
		var pendingMsgs, pendingBytes int
		brokers := map[channels.Broker]bool{} // boxes sharing a broker count it once
		for _, b := range boxes {
			if sb, ok := b.Broker().(channels.ShardedBroker); ok && !brokers[b.Broker()] {
				for _, st := range sb.Shards() {
					up := 0.0
					if st.Up {
						up = 1
					}
					ch <- prometheus.MustNewConstMetric(m.shardUp, prometheus.GaugeValue, up, st.Name)
					ch <- prometheus.MustNewConstMetric(m.shardPending, prometheus.GaugeValue, float64(st.PendingBytes), st.Name)
				}
			}
			if q, ok := b.Broker().(channels.PublishQueue); ok && !brokers[b.Broker()] {
				n, nb := q.PendingPublishes()
				pendingMsgs += n
				pendingBytes += nb
				queues = true
			}
			bs := b.Stats()
			s.Channels += bs.Channels
			s.Users += bs.Users
			s.Groups += bs.Groups
			s.Memberships += bs.Memberships
			s.LargestGroup = max(s.LargestGroup, bs.LargestGroup)
			if bs.HistoryEntries >= 0 && !brokers[b.Broker()] {
				brokers[b.Broker()] = true
				sized = true
				s.HistoryEntries += bs.HistoryEntries
				s.HistoryBytes += bs.HistoryBytes
			}
		}
		if queues {
			gauge(m.pendingMsgs, pendingMsgs)
			gauge(m.pendingBytes, pendingBytes)
		}
		if sized {
			gauge(m.histEntries, s.HistoryEntries)
			gauge(m.histBytes, s.HistoryBytes)
		}
		gauge(m.chans, s.Channels)
		gauge(m.users, s.Users)
		gauge(m.groups, s.Groups)
		gauge(m.members, s.Memberships)
		gauge(m.largest, s.LargestGroup)
	}
}

// Handler serves the metrics, with the Go runtime's and the process's, from
// a registry of their own, so that a program need not import the
// Prometheus client itself.
func (m *Metrics) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(m, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// Watch adds boxes whose channel, user and group counts (summed) the
// scrapes report.
func (m *Metrics) Watch(boxes ...*channels.ChannelBox) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.boxes = append(slices.Clip(m.boxes), boxes...)
}

// Accepted implements websocket.Metrics.
func (m *Metrics) Accepted() { m.accepted.Inc() }

// Rejected implements websocket.Metrics.
func (m *Metrics) Rejected(reason string) { m.rejected.WithLabelValues(reason).Inc() }

// Closed implements websocket.Metrics; codes without a name are "other".
func (m *Metrics) Closed(code websocket.StatusCode) {
	label := "other"
	if strings.Contains(code.String(), "(") {
		label = strconv.Itoa(int(code))
	}
	m.closed.WithLabelValues(label).Inc()
}

// MessageIn implements websocket.Metrics.
func (m *Metrics) MessageIn(n int) { m.msgIn.Inc(); m.bytesIn.Add(float64(n)) }

// MessageOut implements websocket.Metrics.
func (m *Metrics) MessageOut(n int) { m.msgOut.Inc(); m.bytesOut.Add(float64(n)) }

// BrokerCall implements channels.Metrics.
func (m *Metrics) BrokerCall(op string, d time.Duration, err error) {
	m.brokerTime.WithLabelValues(op).Observe(d.Seconds())
	if err != nil {
		m.brokerErrs.WithLabelValues(op).Inc()
	}
}

// Recovery implements channels.Metrics.
func (m *Metrics) Recovery(recovered bool) {
	result := "missed"
	if recovered {
		result = "recovered"
	}
	m.recoveries.WithLabelValues(result).Inc()
}

// PipelinePublish implements redisbroker.Metrics (and any network broker's
// that reports its pipeline the same way).
func (m *Metrics) PipelinePublish(saved bool, d time.Duration, err error) {
	kind := "unsaved"
	if saved {
		kind = "saved"
	}
	m.pubTime.WithLabelValues(kind).Observe(d.Seconds())
	if err != nil {
		reason := "refused"
		switch {
		case errors.Is(err, channels.ErrBrokerBusy):
			reason = "busy"
		case errors.Is(err, channels.ErrBrokerUnavailable):
			reason = "unavailable"
		}
		m.pubErrs.WithLabelValues(kind, reason).Inc()
	}
}

// PipelineBatch implements redisbroker.Metrics.
func (m *Metrics) PipelineBatch(n int, d time.Duration) {
	m.batchSize.Observe(float64(n))
	m.batchTime.Observe(d.Seconds())
}
