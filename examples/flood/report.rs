//! What a run measured, and how it is shown: a table for a person, or one
//! JSON object (`--json`) for a script.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::floor::Floor;
use super::os::Memory;
use super::reload;

/// Latencies in nanoseconds, 3 significant digits, up to a minute.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Everything that went wrong, by kind. A clean run has all of them at 0.
#[derive(Clone, Copy, Debug, Default)]
pub struct Errors {
    /// Replies `Error: token error!`
    pub token_error: u64,
    /// Replies `Error: destination offline!`
    pub destination_offline: u64,
    /// Replies `Error: please log in again!`
    pub log_in_again: u64,
    /// Messages a client sent again because no reply came in time.
    pub resent: u64,
    /// Messages given up on after every resend went unanswered.
    pub no_reply: u64,
    /// A second reply to one message.
    pub duplicate_reply: u64,
    /// A forward that reached its receiver a second time.
    pub duplicate_forward: u64,
    /// Accepted messages whose forward never reached the receiver.
    pub never_arrived: u64,
    /// Datagrams no client of this run expects.
    pub unexpected: u64,
    pub login_failed: u64,
    pub logoff_failed: u64,
    /// Datagrams a send queue dropped (the clients' or the in-process hub's).
    pub send_dropped: u64,
    /// Datagrams the kernel dropped at the hub's socket (full receive buffer).
    pub hub_socket_drops: u64,
    /// Datagrams the kernel dropped at the clients' sockets.
    pub client_socket_drops: u64,
}

impl Errors {
    /// Each kind with its JSON name.
    pub fn kinds(&self) -> [(&'static str, u64); 14] {
        [
            ("token_error", self.token_error),
            ("destination_offline", self.destination_offline),
            ("log_in_again", self.log_in_again),
            ("resent", self.resent),
            ("no_reply", self.no_reply),
            ("duplicate_reply", self.duplicate_reply),
            ("duplicate_forward", self.duplicate_forward),
            ("never_arrived", self.never_arrived),
            ("unexpected", self.unexpected),
            ("login_failed", self.login_failed),
            ("logoff_failed", self.logoff_failed),
            ("send_dropped", self.send_dropped),
            ("hub_socket_drops", self.hub_socket_drops),
            ("client_socket_drops", self.client_socket_drops),
        ]
    }

    pub fn total(&self) -> u64 {
        self.kinds().iter().map(|(_, n)| n).sum()
    }
}

/// The floor, measured in short slices before and after the flood: the
/// median of all slices is the reference, their range says how noisy the
/// machine was.
#[derive(Clone, Debug)]
pub struct Floors {
    pub before: Vec<Floor>,
    pub after: Vec<Floor>,
}

impl Floors {
    fn sorted(slices: &[Floor]) -> Vec<Duration> {
        let mut times: Vec<Duration> = slices.iter().map(|f| f.per_round).collect();
        times.sort();
        times
    }

    fn median_of(slices: &[Floor]) -> Duration {
        let times = Self::sorted(slices);
        match times.len() {
            0 => Duration::ZERO,
            n if n % 2 == 1 => times[n / 2],
            n => (times[n / 2 - 1] + times[n / 2]) / 2,
        }
    }

    fn all(&self) -> Vec<Floor> {
        self.before.iter().chain(&self.after).copied().collect()
    }

    /// The reference: the median of every slice.
    pub fn median(&self) -> Duration {
        Self::median_of(&self.all())
    }

    pub fn median_before(&self) -> Duration {
        Self::median_of(&self.before)
    }

    pub fn median_after(&self) -> Duration {
        Self::median_of(&self.after)
    }

    /// The fastest and the slowest slice.
    pub fn range(&self) -> (Duration, Duration) {
        let times = Self::sorted(&self.all());
        (
            times.first().copied().unwrap_or_default(),
            times.last().copied().unwrap_or_default(),
        )
    }

    pub fn rounds(&self) -> u64 {
        self.all().iter().map(|f| f.rounds).sum()
    }
}

/// What `--accounts` measured of a real `reactor-server`.
#[derive(Clone, Debug)]
pub struct AccountsReport {
    pub accounts: usize,
    pub file_bytes: u64,
    /// From the spawn to the `listening on` line.
    pub start_up: Duration,
    /// How long the server says the file took to read.
    pub read_in: Option<Duration>,
    /// A server with no account, just started: what the process costs
    /// whatever it holds.
    pub empty_resident: u64,
    pub before_login: Memory,
    /// Every session logged in (idle and active), and the resident memory
    /// then.
    pub sessions: usize,
    pub after_logins: Option<u64>,
    pub reload: Option<ReloadReport>,
    pub max_reply_wait: Option<Duration>,
}

/// What one SIGHUP reload under load cost.
#[derive(Clone, Debug)]
pub struct ReloadReport {
    /// From the SIGHUP to the server's `accounts reloaded` line.
    pub took: Duration,
    pub line: String,
    /// The longest a reply waited through the reload, and before it.
    pub longest_wait: Duration,
    pub longest_before: Duration,
    /// Replies that waited through the reload.
    pub replies: u64,
    /// The server's peak resident memory since the SIGHUP, if it could be
    /// reset then.
    pub peak: Option<u64>,
    pub resident_after: u64,
}

impl AccountsReport {
    /// What an account adds to the process's resident memory.
    pub fn bytes_per_account(&self) -> f64 {
        (self.before_login.resident as f64 - self.empty_resident as f64)
            / self.accounts.max(1) as f64
    }

    /// What a logged-in session adds to it.
    pub fn bytes_per_session(&self) -> Option<f64> {
        let after = self.after_logins? as f64;
        Some((after - self.before_login.resident as f64) / self.sessions.max(1) as f64)
    }

    /// Why the run fails `--max-reply-wait`, if it does.
    pub fn over_limit(&self) -> Option<String> {
        let (limit, reload) = (self.max_reply_wait?, self.reload.as_ref()?);
        (reload.longest_wait > limit).then(|| {
            format!(
                "a reply waited {:.1} ms during the reload, over --max-reply-wait {} ms",
                millis(reload.longest_wait),
                limit.as_millis()
            )
        })
    }

    fn text(&self, w: &mut String) {
        let _ = writeln!(
            w,
            "accounts        {} ({:.1} MB file)",
            self.accounts,
            mb(self.file_bytes)
        );
        let read_in = self
            .read_in
            .map_or("unknown".into(), |read| format!("{:.1} ms", millis(read)));
        let _ = writeln!(
            w,
            "start-up        {:.1} ms from the spawn to `listening` (the file read in {read_in})",
            millis(self.start_up)
        );
        let _ = writeln!(
            w,
            "memory          {:.1} MB before any login (peak {:.1} MB; {:.1} MB with no account): {:.1} B an account",
            mb(self.before_login.resident),
            mb(self.before_login.peak),
            mb(self.empty_resident),
            self.bytes_per_account()
        );
        if let (Some(after), Some(per)) = (self.after_logins, self.bytes_per_session()) {
            let _ = writeln!(
                w,
                "                {:.1} MB with {} sessions logged in: {per:.0} B a session",
                mb(after),
                self.sessions
            );
        }
        let Some(reload) = &self.reload else {
            return;
        };
        let _ = writeln!(
            w,
            "reload          {:.1} ms from the SIGHUP to `{}`",
            millis(reload.took),
            reload
                .line
                .split(reload::RELOADED)
                .nth(1)
                .unwrap_or(&reload.line)
        );
        let _ = writeln!(
            w,
            "                peak {} since the SIGHUP, {:.1} MB after",
            reload
                .peak
                .map_or("unknown".into(), |peak| format!("{:.1} MB", mb(peak))),
            mb(reload.resident_after)
        );
        let verdict = match (self.max_reply_wait, self.over_limit()) {
            (None, _) => String::new(),
            (Some(limit), None) => format!("; within {} ms", limit.as_millis()),
            (Some(limit), Some(_)) => format!("; OVER {} ms", limit.as_millis()),
        };
        let _ = writeln!(
            w,
            "reply wait      longest {:.1} ms through the reload ({} replies{verdict}), {:.1} ms in the {:.1} s before",
            millis(reload.longest_wait),
            reload.replies,
            millis(reload.longest_before),
            reload::LEAD_IN.as_secs_f64()
        );
    }

    fn json(&self) -> String {
        let optional = |x: Option<String>| x.unwrap_or("null".into());
        let mut fields = vec![
            ("accounts", self.accounts.to_string()),
            ("file_bytes", self.file_bytes.to_string()),
            ("start_up_ms", json_f64(millis(self.start_up))),
            (
                "read_in_ms",
                optional(self.read_in.map(|d| json_f64(millis(d)))),
            ),
            ("empty_resident_bytes", self.empty_resident.to_string()),
            (
                "resident_before_login_bytes",
                self.before_login.resident.to_string(),
            ),
            (
                "peak_before_login_bytes",
                self.before_login.peak.to_string(),
            ),
            ("bytes_per_account", json_f64(self.bytes_per_account())),
            ("sessions", self.sessions.to_string()),
            (
                "resident_after_logins_bytes",
                optional(self.after_logins.map(|b| b.to_string())),
            ),
            (
                "bytes_per_session",
                optional(self.bytes_per_session().map(json_f64)),
            ),
            (
                "max_reply_wait_ms",
                optional(self.max_reply_wait.map(|d| json_f64(millis(d)))),
            ),
        ];
        if let Some(reload) = &self.reload {
            fields.extend([
                ("reload_ms", json_f64(millis(reload.took))),
                ("reload_line", json_string(&reload.line)),
                (
                    "reload_longest_wait_ms",
                    json_f64(millis(reload.longest_wait)),
                ),
                (
                    "longest_wait_before_ms",
                    json_f64(millis(reload.longest_before)),
                ),
                ("reload_replies", reload.replies.to_string()),
                (
                    "reload_peak_bytes",
                    optional(reload.peak.map(|b| b.to_string())),
                ),
                (
                    "resident_after_reload_bytes",
                    reload.resident_after.to_string(),
                ),
            ]);
        }
        json_object(fields.iter().map(|(name, value)| (*name, value.as_str())))
    }
}

/// The whole result of a run.
pub struct Report {
    pub target: String,
    pub clients: usize,
    pub window: usize,
    pub body: usize,
    /// Whether each client sent from its own socket (`--own-sockets`).
    pub own_sockets: bool,
    pub warmup: Duration,
    /// Wall time of the measured part.
    pub measured: Duration,
    /// Messages that got `Success` while measuring.
    pub accepted: u64,
    /// Send to `Success` at the sender, in ns.
    pub to_success: Histogram<u64>,
    /// Send to arrival of the forward at the receiver, in ns.
    pub to_arrival: Histogram<u64>,
    pub errors: Errors,
    /// CPU time of the hub (thread or process) while measuring.
    pub hub_cpu: Option<Duration>,
    /// CPU time of the flood's client thread while measuring.
    pub client_cpu: Option<Duration>,
    pub floors: Option<Floors>,
    pub idle_sessions: usize,
    /// The hub's resident memory once every session is logged in (for an
    /// in-process hub: the whole flood process).
    pub hub_resident: Option<u64>,
    /// With `--accounts`: the server's start-up, memory and reload.
    pub accounts: Option<AccountsReport>,
}

impl Report {
    pub fn rate(&self) -> f64 {
        self.accepted as f64 / self.measured.as_secs_f64().max(1e-9)
    }

    pub fn hub_cpu_per_message(&self) -> Option<Duration> {
        per_message(self.hub_cpu?, self.accepted)
    }

    pub fn client_cpu_per_message(&self) -> Option<Duration> {
        per_message(self.client_cpu?, self.accepted)
    }

    /// The hub's CPU per message as a multiple of the floor.
    pub fn floor_ratio(&self) -> Option<f64> {
        let hub = self.hub_cpu_per_message()?;
        Some(hub.as_secs_f64() / self.floors.as_ref()?.median().as_secs_f64())
    }

    /// The report for a person.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let w = &mut out;
        let _ = writeln!(
            w,
            "flood: {} clients ({} pairs), window {}, body {} B, hub {}",
            self.clients,
            self.clients / 2,
            self.window,
            self.body,
            self.target
        );
        let _ = writeln!(
            w,
            "clients send    {}",
            if self.own_sockets {
                "each from its own socket (--own-sockets)"
            } else {
                "through one shared socket, a sendmmsg per poll"
            }
        );
        let _ = writeln!(
            w,
            "measured        {:.2} s after {:.1} s of warm-up",
            self.measured.as_secs_f64(),
            self.warmup.as_secs_f64()
        );
        let _ = writeln!(
            w,
            "accepted        {} messages, {:.0} msgs/s",
            self.accepted,
            self.rate()
        );
        let _ = writeln!(
            w,
            "latency (us)    {:>9} {:>9} {:>9} {:>9}",
            "p50", "p99", "p99.9", "max"
        );
        for (name, histogram) in [
            ("send->Success", &self.to_success),
            ("send->arrival", &self.to_arrival),
        ] {
            let [p50, p99, p999, max] = percentiles(histogram);
            let _ = writeln!(
                w,
                "  {name:<14}{p50:>9.1} {p99:>9.1} {p999:>9.1} {max:>9.1}"
            );
        }
        let kinds: Vec<String> = self
            .errors
            .kinds()
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect();
        let _ = writeln!(
            w,
            "errors          {}{}",
            self.errors.total(),
            if kinds.is_empty() {
                String::new()
            } else {
                format!(" ({})", kinds.join(", "))
            }
        );
        if let (Some(cpu), Some(per)) = (self.hub_cpu, self.hub_cpu_per_message()) {
            let _ = writeln!(
                w,
                "hub CPU         {:.3} us/msg ({:.2} s of CPU, {:.0}% of one core)",
                micros(per),
                cpu.as_secs_f64(),
                100.0 * cpu.as_secs_f64() / self.measured.as_secs_f64()
            );
        }
        if let Some(per) = self.client_cpu_per_message() {
            let _ = writeln!(
                w,
                "flood CPU       {:.3} us/msg (the client thread)",
                micros(per)
            );
        }
        if let Some(floors) = &self.floors {
            let (min, max) = floors.range();
            let _ = writeln!(
                w,
                "floor           {:.3} us per 2 sendto + 2 recvfrom: median of {} slices \
                 (before {:.3}, after {:.3}; range {:.3}-{:.3}; {} rounds)",
                micros(floors.median()),
                floors.before.len() + floors.after.len(),
                micros(floors.median_before()),
                micros(floors.median_after()),
                micros(min),
                micros(max),
                floors.rounds()
            );
        }
        if let Some(ratio) = self.floor_ratio() {
            let _ = writeln!(w, "hub / floor     {ratio:.3}x");
        }
        if self.idle_sessions > 0 || self.hub_resident.is_some() {
            let _ = writeln!(
                w,
                "sessions        {} idle + {} active; hub resident {}",
                self.idle_sessions,
                self.clients,
                self.hub_resident
                    .map_or("unknown".into(), |b| format!("{:.1} MB", mb(b)))
            );
        }
        if let Some(accounts) = &self.accounts {
            accounts.text(w);
        }
        out
    }

    /// The report as one JSON object (times in microseconds).
    pub fn json(&self) -> String {
        let mut fields: Vec<(String, String)> = vec![
            ("target".into(), json_string(&self.target)),
            ("clients".into(), self.clients.to_string()),
            ("window".into(), self.window.to_string()),
            ("body_bytes".into(), self.body.to_string()),
            ("own_sockets".into(), self.own_sockets.to_string()),
            ("warmup_s".into(), json_f64(self.warmup.as_secs_f64())),
            ("measured_s".into(), json_f64(self.measured.as_secs_f64())),
            ("accepted".into(), self.accepted.to_string()),
            ("msgs_per_s".into(), json_f64(self.rate())),
        ];
        for (name, histogram) in [
            ("send_to_success_us", &self.to_success),
            ("send_to_arrival_us", &self.to_arrival),
        ] {
            let [p50, p99, p999, max] = percentiles(histogram);
            let object = format!(
                "{{\"p50\":{},\"p99\":{},\"p99_9\":{},\"max\":{}}}",
                json_f64(p50),
                json_f64(p99),
                json_f64(p999),
                json_f64(max)
            );
            fields.push((name.into(), object));
        }
        let kinds: Vec<String> = self
            .errors
            .kinds()
            .iter()
            .map(|(kind, n)| format!("\"{kind}\":{n}"))
            .collect();
        fields.push(("errors".into(), self.errors.total().to_string()));
        fields.push(("errors_by_kind".into(), format!("{{{}}}", kinds.join(","))));
        let optional = |d: Option<Duration>| d.map_or("null".into(), |d| json_f64(micros(d)));
        fields.push((
            "hub_cpu_s".into(),
            self.hub_cpu
                .map_or("null".into(), |d| json_f64(d.as_secs_f64())),
        ));
        fields.push((
            "hub_cpu_us_per_msg".into(),
            optional(self.hub_cpu_per_message()),
        ));
        fields.push((
            "client_cpu_us_per_msg".into(),
            optional(self.client_cpu_per_message()),
        ));
        let floors = self.floors.as_ref();
        fields.push(("floor_us".into(), optional(floors.map(|f| f.median()))));
        fields.push((
            "floor_before_us".into(),
            optional(floors.map(|f| f.median_before())),
        ));
        fields.push((
            "floor_after_us".into(),
            optional(floors.map(|f| f.median_after())),
        ));
        fields.push(("floor_min_us".into(), optional(floors.map(|f| f.range().0))));
        fields.push(("floor_max_us".into(), optional(floors.map(|f| f.range().1))));
        fields.push((
            "hub_over_floor".into(),
            self.floor_ratio().map_or("null".into(), json_f64),
        ));
        fields.push(("idle_sessions".into(), self.idle_sessions.to_string()));
        fields.push((
            "hub_resident_bytes".into(),
            self.hub_resident.map_or("null".into(), |b| b.to_string()),
        ));
        if let Some(accounts) = &self.accounts {
            fields.push(("accounts".into(), accounts.json()));
        }
        json_object(
            fields
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        )
    }
}

fn per_message(cpu: Duration, messages: u64) -> Option<Duration> {
    (messages > 0).then(|| Duration::from_secs_f64(cpu.as_secs_f64() / messages as f64))
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// `{"name":value,...}` of values already in JSON.
fn json_object<'a>(fields: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let body: Vec<String> = fields
        .map(|(name, value)| format!("\"{name}\":{value}"))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// p50, p99, p99.9 and max, in microseconds.
pub fn percentiles(histogram: &Histogram<u64>) -> [f64; 4] {
    let us = |ns: u64| ns as f64 / 1e3;
    [
        us(histogram.value_at_quantile(0.5)),
        us(histogram.value_at_quantile(0.99)),
        us(histogram.value_at_quantile(0.999)),
        us(histogram.max()),
    ]
}

fn json_f64(x: f64) -> String {
    if x.is_finite() {
        format!("{}", (x * 1000.0).round() / 1000.0)
    } else {
        "null".into()
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
