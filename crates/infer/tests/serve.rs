//! `infer serve`: the page and the JSON API, run as the binary on a free loopback port, checked
//! against the library; the port-in-use error; and a bounded load test (many clients for a
//! fixed time, no errors, memory stable).

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::http::Client;
use common::{artifact_dir, predictor, seed_sized_artifact_dir, test_inputs};
use infer::BroadcastPath;
use infer::ablate::{self, AblationMode};
use model::MaskTable;
use serde_json::{Value, json};

/// A running `infer serve`; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    // Kept open: the server prints a second line after the address.
    _stdout: BufReader<ChildStdout>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `infer serve --device flex --port 0 ARGS`, once it has printed its address.
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_infer"))
            .args(["serve", "--device", "flex", "--port", "0"])
            .args(args)
            .env_remove("MNIST_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("infer serve starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("first line");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Server {
            child,
            addr,
            _stdout: stdout,
        }
    }

    fn client(&self) -> Client {
        Client::connect(self.addr).expect("connects")
    }

    /// The server's resident memory in KiB (Linux).
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

/// Test image `i` as bytes 0..255, as the page sends it.
fn image_bytes(pixels: &[f32], i: usize) -> Vec<u8> {
    pixels[i * 784..(i + 1) * 784]
        .iter()
        .map(|&v| (v * 255.0).round() as u8)
        .collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|x| x.as_f64().expect("a number") as f32)
        .collect()
}

#[test]
fn api_answers_as_the_library_and_refuses_bad_requests_with_streams_messages() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = predictor();
    let inputs = test_inputs(500);
    let labels = inputs.labels.clone().expect("labels");
    let sweep =
        ablate::sweep(&p, &inputs.pixels, &labels, AblationMode::Zero, None).expect("sweep");
    let csv = tmp.path().join("ablation.csv");
    ablate::write_csv(&csv, &sweep).expect("csv");
    // No --data-dir: the test images come from the MNIST built into the binary.
    let dir = artifact_dir().display();
    let server = Server::start(&[
        "--artifact-dir",
        &dir.to_string(),
        "--ablation",
        &csv.display().to_string(),
    ]);
    let mut c = server.client();

    // The page and its assets, from the binary.
    let page = c.get("/").expect("page");
    assert_eq!(page.status, 200);
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    assert!(page.body.contains(r#"<script src="/app.js">"#));
    for (path, kind) in [("/app.js", "text/javascript"), ("/style.css", "text/css")] {
        let r = c.get(path).expect(path);
        assert_eq!(
            (r.status, r.content_type.starts_with(kind)),
            (200, true),
            "{path}"
        );
        assert!(r.body.len() > 1000, "{path}");
    }

    let info = c.get("/api/info").expect("info").json();
    assert_eq!(info["hidden"], json!([32]));
    assert_eq!(info["neurons"], 32);
    assert_eq!(info["grid"], json!({"rows": 5, "cols": 7}));
    assert_eq!(info["test_images"], 10000);
    assert_eq!(info["ablation"], true);

    // A test image: the MNIST bytes and label.
    let image = c.get("/api/test-image/2").expect("image").json();
    assert_eq!(image["label"], labels[2]);
    let bytes = image_bytes(&inputs.pixels, 2);
    assert_eq!(image["pixels"], json!(bytes));

    // Predict: the library's probabilities and last-layer activations for the same mask.
    let body = json!({"pixels": bytes, "off": [3, 5]}).to_string();
    let answer = c.post("/api/predict", &body).expect("predict");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = answer.json();
    let table = MaskTable::broadcast_off(&[32], &[vec![3, 5]]);
    let one = &inputs.pixels[2 * 784..3 * 784];
    let expected = p
        .predict(one, &table, BroadcastPath::Multiply)
        .expect("predict");
    let hidden = p.hidden_and_logits(one, &table).expect("hidden");
    assert_eq!(answer["predicted"], expected.predicted(0));
    for (x, y) in floats(&answer["probabilities"])
        .iter()
        .zip(expected.probabilities(0))
    {
        assert!((x - y).abs() < 1e-6, "{x} vs {y}");
    }
    let h = floats(&answer["hidden"]);
    assert_eq!(h, hidden.hidden(0));
    assert_eq!((h[3], h[5]), (0.0, 0.0), "switched-off neurons are silent");
    assert!(h.iter().any(|&v| v > 0.0));
    // The same pixels as 0..1 floats with "scale": 1, and no mask: the intact network.
    let floats_body = json!({"pixels": one, "scale": 1}).to_string();
    let intact = c
        .post("/api/predict", &floats_body)
        .expect("predict")
        .json();
    let all_on = p
        .predict(one, &MaskTable::all_on(&[32]), BroadcastPath::Multiply)
        .expect("predict");
    for (x, y) in floats(&intact["probabilities"])
        .iter()
        .zip(all_on.probabilities(0))
    {
        assert!((x - y).abs() < 1e-6, "{x} vs {y}");
    }

    // Bad requests: HTTP 400 with the message `infer stream` gives for the same line.
    let keep = vec![1.0; 32];
    let short = json!({"pixels": [1, 2, 3]}).to_string();
    let bad_neuron = json!({"pixels": bytes, "off": [3, 99]}).to_string();
    let bad_pixel = json!({"pixels": vec![300; 784]}).to_string();
    let unknown = json!({"pixels": bytes, "mask": [1]}).to_string();
    let both = json!({"pixels": bytes, "off": [1], "keep": [2]}).to_string();
    for text in [
        "not json",
        "[1, 2]",
        &short,
        &bad_neuron,
        &bad_pixel,
        &unknown,
        &both,
    ] {
        let shown = c.post("/api/predict", text).expect("answers").error(400);
        let message = infer::stream::parse_request(text, &[32], 255.0, &keep)
            .expect_err("stream refuses it too");
        assert_eq!(shown, message, "{text}");
    }
    let bad_utf8 = c.send("POST", "/api/predict", &[0xff, 0xfe]);
    assert!(bad_utf8.expect("answers").error(400).contains("UTF-8"));
    let huge = format!("{{\"pixels\": [{}0]}}", "0, ".repeat(200_000));
    let too_long = c.post("/api/predict", &huge).expect("answers").error(413);
    assert!(too_long.contains("length limit"), "{too_long}");

    // The server closes a connection whose body it refused unread.
    let mut c = server.client();

    // Missing things are 404 with a message; a bad index is 400.
    for (path, status, says) in [
        ("/api/test-image/10000", 404, "0 to 9999"),
        ("/api/test-image/seven", 400, "`seven`"),
        ("/api/nothing", 404, "/api/info"),
    ] {
        let message = c.get(path).expect("answers").error(status);
        assert!(message.contains(says), "{path}: {message}");
    }
    assert_eq!(c.get("/api/predict").expect("answers").status, 405);

    // The ablation map: the CSV's figures for each neuron, in neuron order.
    let map = c.get("/api/ablation").expect("ablation").json();
    let ranks: Vec<u64> = map["rank"]
        .as_array()
        .expect("ranks")
        .iter()
        .map(|r| r.as_u64().expect("rank"))
        .collect();
    let expected_ranks: Vec<u64> = sweep.effects.iter().map(|e| e.rank as u64).collect();
    assert_eq!(ranks, expected_ranks);
    for (x, e) in floats(&map["delta_accuracy"]).iter().zip(&sweep.effects) {
        assert!((*x as f64 - e.delta_accuracy).abs() < 1e-6);
    }
}

#[test]
fn with_no_flags_the_test_set_is_the_built_in_mnist_and_a_missing_ablation_map_says_what_to_do() {
    let dir = artifact_dir().display().to_string();
    let server = Server::start(&["--artifact-dir", &dir]);
    let mut c = server.client();
    let info = c.get("/api/info").expect("info").json();
    assert_eq!(
        (info["test_images"].clone(), info["ablation"].clone()),
        (json!(10000), json!(false))
    );
    assert_eq!(info["test_set"], json!("built-in MNIST"));
    let image = c.get("/api/test-image/0").expect("image").json();
    assert_eq!(image["label"], 7, "the first MNIST test image is a 7");
    let message = c.get("/api/ablation").expect("answers").error(404);
    assert!(
        message.contains("infer ablate") && message.contains("ablation.csv"),
        "{message}"
    );
}

#[test]
fn a_library_explorer_without_test_images_offers_drawing_only() {
    use infer::serve::{self, Explorer, ServeOptions};
    let listener =
        serve::bind(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0).expect("binds");
    let addr = listener.local_addr().expect("addr");
    let options = ServeOptions {
        test_set: None,
        ablation: None,
        circuits: None,
    };
    let explorer = Explorer::new(predictor(), artifact_dir(), &options).expect("explorer");
    std::thread::spawn(move || serve::serve(listener, explorer));
    let mut c = Client::connect(addr).expect("connects");
    let info = c.get("/api/info").expect("info").json();
    assert_eq!(info["test_images"], json!(0));
    let message = c.get("/api/test-image/0").expect("answers").error(404);
    assert!(message.contains("no test set"), "{message}");
    // Drawing still works: predict needs neither.
    let r = c.post("/api/predict", &json!({"pixels": vec![0; 784]}).to_string());
    assert_eq!(r.expect("answers").status, 200);
}

fn infer_fails(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_infer"))
        .args(args)
        .env_remove("MNIST_DIR")
        .output()
        .expect("runs");
    assert!(!out.status.success(), "{args:?} must fail");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn a_port_in_use_or_a_missing_ablation_file_is_an_error_that_names_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = taken.local_addr().expect("addr").port().to_string();
    let dir = artifact_dir().display().to_string();
    let stderr = infer_fails(&["serve", "--artifact-dir", &dir, "--port", &port]);
    assert!(
        stderr.contains(&format!("port {port}")) && stderr.contains("in use"),
        "{stderr}"
    );
    let stderr = infer_fails(&[
        "serve",
        "--artifact-dir",
        &dir,
        "--port",
        "0",
        "--device",
        "flex",
        "--ablation",
        "/nonexistent/ablation.csv",
    ]);
    assert!(stderr.contains("/nonexistent/ablation.csv"), "{stderr}");
}

/// Bounded load on loopback: CLIENTS connections, each sending predict requests (a test
/// image, its own random mask) back to back for SECONDS. Every answer must be 200 with 10
/// probabilities, and the server's resident memory must not grow between a warm-up and the
/// end of the run.
#[test]
fn load_many_clients_no_errors_memory_stable() {
    const CLIENTS: usize = 32;
    const WARM_UP: Duration = Duration::from_secs(1);
    const SECONDS: u64 = 5;
    let inputs = test_inputs(64);
    let bodies: Vec<String> = (0..64)
        .map(|i| {
            let off: Vec<usize> = (0..600).filter(|j| (j * 7 + i * 13) % 10 < 3).collect();
            json!({"pixels": image_bytes(&inputs.pixels, i), "off": off}).to_string()
        })
        .collect();
    let dir = seed_sized_artifact_dir().display().to_string();
    let server = Server::start(&["--artifact-dir", &dir]);

    let run = |duration: Duration| -> (usize, usize) {
        let deadline = Instant::now() + duration;
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..CLIENTS)
                .map(|k| {
                    let bodies = &bodies;
                    let addr = server.addr;
                    s.spawn(move || {
                        let (mut ok, mut errors) = (0, 0);
                        let mut c = Client::connect(addr).expect("connects");
                        let mut i = k;
                        while Instant::now() < deadline {
                            i = (i + 1) % bodies.len();
                            match c.post("/api/predict", &bodies[i]) {
                                Ok(r)
                                    if r.status == 200
                                        && r.json()["probabilities"]
                                            .as_array()
                                            .is_some_and(|p| p.len() == 10) =>
                                {
                                    ok += 1
                                }
                                Ok(r) => {
                                    eprintln!("client {k}: HTTP {}: {}", r.status, r.body);
                                    errors += 1
                                }
                                Err(e) => {
                                    eprintln!("client {k}: {e}");
                                    errors += 1;
                                    c = Client::connect(addr).expect("reconnects");
                                }
                            }
                        }
                        (ok, errors)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("client thread"))
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
        })
    };

    let rss_start = server.rss_kib();
    let (warm_ok, warm_errors) = run(WARM_UP);
    let rss_warm = server.rss_kib();
    let started = Instant::now();
    let (ok, errors) = run(Duration::from_secs(SECONDS));
    let seconds = started.elapsed().as_secs_f64();
    let rss_end = server.rss_kib();
    println!(
        "load: {CLIENTS} clients x {SECONDS} s: {ok} answers, {errors} errors, {:.0} requests/s; \
         server VmRSS {} MiB at start, {} MiB after a {}-request warm-up, {} MiB at the end",
        ok as f64 / seconds,
        rss_start / 1024,
        rss_warm / 1024,
        warm_ok,
        rss_end / 1024
    );
    assert_eq!((warm_errors, errors), (0, 0));
    assert!(ok >= 100, "only {ok} answers in {SECONDS} s");
    assert!(
        rss_end < rss_warm + 32 * 1024,
        "memory grew from {rss_warm} KiB to {rss_end} KiB under load"
    );
    // Still answering, and correctly, after the load.
    let mut c = server.client();
    let r = c.post("/api/predict", &bodies[0]).expect("answers");
    assert_eq!(r.status, 200);
}
