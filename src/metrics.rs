//! The numbers an operator watches, served at `/metrics` on the HTTP
//! listener in the Prometheus text format.
//!
//! One process-wide registry: every front door, the chat core and the store
//! count into it wherever the thing counted happens, without threading a
//! handle through every call. Each node of a PostgreSQL cluster counts its
//! own traffic; Prometheus sums across nodes.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Which front door a connection came in by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontDoor {
    Pipe,
    WebSocket,
    Irc,
}

impl FrontDoor {
    fn label(self) -> &'static str {
        match self {
            FrontDoor::Pipe => "pipe",
            FrontDoor::WebSocket => "websocket",
            FrontDoor::Irc => "irc",
        }
    }
}

/// Every counter, gauge and histogram the server exports.
pub struct Metrics {
    registry: Registry,
    connections_open: IntGaugeVec,
    connections_total: IntCounterVec,
    /// Distinct users logged in on this node.
    pub logged_in_users: IntGauge,
    requests: IntCounterVec,
    pub messages_stored: IntCounter,
    pub events_delivered: IntCounter,
    pub events_dropped: IntCounter,
    pub slow_consumers_disconnected: IntCounter,
    pub arrivals_refused: IntCounter,
    /// Connections refused by `--max-connections` or
    /// `--max-connections-per-address`.
    pub connections_refused: IntCounter,
    pub commit_batch_size: Histogram,
    pub commit_seconds: Histogram,
    pub login_throttled: IntCounter,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Metrics {
        let registry = Registry::new_custom(Some("pipechat".to_string()), None)
            .expect("a fixed, valid prefix");
        let metrics = Metrics {
            connections_open: IntGaugeVec::new(
                Opts::new(
                    "connections_open",
                    "Connections admitted and open now, by front door.",
                ),
                &["front_door"],
            )
            .expect("valid gauge"),
            connections_total: IntCounterVec::new(
                Opts::new(
                    "connections_total",
                    "Connections admitted since start, by front door.",
                ),
                &["front_door"],
            )
            .expect("valid counter"),
            logged_in_users: IntGauge::new(
                "logged_in_users",
                "Distinct users logged in on this node.",
            )
            .expect("valid gauge"),
            requests: IntCounterVec::new(
                Opts::new(
                    "requests_total",
                    "Requests answered, by command and reply status.",
                ),
                &["command", "status"],
            )
            .expect("valid counter"),
            messages_stored: IntCounter::new(
                "messages_stored_total",
                "Messages (room and direct) stored by this node.",
            )
            .expect("valid counter"),
            events_delivered: IntCounter::new(
                "events_delivered_total",
                "Events queued to a connection's outbox.",
            )
            .expect("valid counter"),
            events_dropped: IntCounter::new(
                "events_dropped_total",
                "Events not delivered because the connection's queue was full or closed.",
            )
            .expect("valid counter"),
            slow_consumers_disconnected: IntCounter::new(
                "slow_consumers_disconnected_total",
                "Connections closed because they did not read what they were sent.",
            )
            .expect("valid counter"),
            arrivals_refused: IntCounter::new(
                "arrivals_refused_total",
                "Connections closed at once because too many were arriving (from their \
                 address, or at all) without being admitted yet.",
            )
            .expect("valid counter"),
            connections_refused: IntCounter::new(
                "connections_refused_total",
                "Connections refused because the server was full (--max-connections) or \
                 their address held as many as it may (--max-connections-per-address).",
            )
            .expect("valid counter"),
            commit_batch_size: Histogram::with_opts(
                HistogramOpts::new(
                    "commit_batch_size",
                    "Writes made durable by one commit (group commit on SQLite).",
                )
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]),
            )
            .expect("valid histogram"),
            commit_seconds: Histogram::with_opts(
                HistogramOpts::new("commit_seconds", "How long one commit took.").buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ]),
            )
            .expect("valid histogram"),
            login_throttled: IntCounter::new(
                "login_throttled_total",
                "Logins refused because of too many recent failures.",
            )
            .expect("valid counter"),
            registry,
        };
        metrics.register_all();
        metrics
    }

    fn register_all(&self) {
        let collectors: [Box<dyn prometheus::core::Collector>; 13] = [
            Box::new(self.connections_open.clone()),
            Box::new(self.connections_total.clone()),
            Box::new(self.logged_in_users.clone()),
            Box::new(self.requests.clone()),
            Box::new(self.messages_stored.clone()),
            Box::new(self.events_delivered.clone()),
            Box::new(self.events_dropped.clone()),
            Box::new(self.slow_consumers_disconnected.clone()),
            Box::new(self.arrivals_refused.clone()),
            Box::new(self.connections_refused.clone()),
            Box::new(self.commit_batch_size.clone()),
            Box::new(self.commit_seconds.clone()),
            Box::new(self.login_throttled.clone()),
        ];
        for collector in collectors {
            self.registry
                .register(collector)
                .expect("each metric is registered once, under its own name");
        }
        // A labelled series exists only once touched: an idle server would
        // show no connection series at all, and alerts on them see nothing.
        for door in [FrontDoor::Pipe, FrontDoor::WebSocket, FrontDoor::Irc] {
            self.connections_open.with_label_values(&[door.label()]);
            self.connections_total.with_label_values(&[door.label()]);
        }
    }

    /// Counts a connection in; the returned guard counts it out when
    /// dropped, however its thread ends.
    pub fn connection(&self, door: FrontDoor) -> OpenConnection {
        self.connections_total
            .with_label_values(&[door.label()])
            .inc();
        let open = self.connections_open.with_label_values(&[door.label()]);
        open.inc();
        OpenConnection(open)
    }

    /// Counts one answered request. `command` is the protocol's name for
    /// it (unknown commands are counted as `unknown`, so that a client
    /// cannot create labels at will).
    pub fn request(&self, command: &str, status: u16) {
        self.requests
            .with_label_values(&[command, &status.to_string()])
            .inc();
    }

    /// Records one commit of `writes` writes that took `took`.
    pub fn commit(&self, writes: usize, took: Duration) {
        self.commit_batch_size.observe(writes as f64);
        self.commit_seconds.observe(took.as_secs_f64());
    }

    /// Everything, in the Prometheus text exposition format.
    pub fn render(&self) -> (String, Vec<u8>) {
        let encoder = TextEncoder::new();
        let mut out = Vec::new();
        if let Err(err) = encoder.encode(&self.registry.gather(), &mut out) {
            log::error!("cannot encode the metrics: {err}");
        }
        (encoder.format_type().to_string(), out)
    }
}

/// A connection counted as open; counted out when dropped.
pub struct OpenConnection(IntGauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_front_doors_connections_show_before_the_first() {
        let (_, text) = Metrics::new().render();
        let text = String::from_utf8(text).unwrap();
        for door in ["pipe", "websocket", "irc"] {
            for series in ["open", "total"] {
                let line = format!("pipechat_connections_{series}{{front_door=\"{door}\"}} 0");
                assert!(text.contains(&line), "no {line} in:\n{text}");
            }
        }
    }

    #[test]
    fn rendered_metrics_carry_the_prefix_and_move() {
        let metrics = Metrics::new();
        {
            let _open = metrics.connection(FrontDoor::Irc);
            metrics.request("sendMessage", 200);
            metrics.commit(3, Duration::from_millis(2));
            let (_, text) = metrics.render();
            let text = String::from_utf8(text).unwrap();
            assert!(
                text.contains("pipechat_connections_open{front_door=\"irc\"} 1"),
                "{text}"
            );
            assert!(
                text.contains("pipechat_requests_total{command=\"sendMessage\",status=\"200\"} 1"),
                "{text}"
            );
            assert!(text.contains("pipechat_commit_batch_size_sum 3"), "{text}");
        }
        let (kind, text) = metrics.render();
        assert!(kind.starts_with("text/plain"), "{kind}");
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains("pipechat_connections_open{front_door=\"irc\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("pipechat_connections_total{front_door=\"irc\"} 1"),
            "{text}"
        );
    }
}
