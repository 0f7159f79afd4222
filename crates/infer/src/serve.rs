//! `infer serve`: the neuron explorer, a page and a JSON API on this machine.
//!
//! The page (`assets/`, compiled into the binary, no network needed) draws or picks a digit,
//! shows the last hidden layer as a grid shaded by activation, switches neurons off on click
//! and shows the class probabilities. The API behind it:
//!
//! ```text
//! GET  /                    the page (/app.js, /style.css)
//! GET  /api/info            model facts: layer sizes, grid shape, default mask, test set, ablation
//! GET  /api/test-image/{i}  MNIST test image i: {"index", "label", "pixels": [784 bytes]}
//! GET  /api/ablation        the ablation map (infer ablate --output DIR/ablation.csv)
//! GET  /api/neuron/{j}      neuron j's atlas entry: receptive field, top test images, per-digit means
//! GET  /api/circuits        the learned masks in DIR/circuits/ (infer circuit): {"masks": [...]}
//! POST /api/predict         an `infer stream` line in; {"predicted", "probabilities", "hidden"} out
//! ```
//!
//! The atlas ([`crate::atlas`]) is computed over the test set on the first `/api/neuron`
//! request and kept.
//!
//! A predict body is read by [`stream::parse_request`] and answered by [`stream::answer`], the
//! code `infer stream` runs, on one inference thread that answers the requests waiting
//! together in one forward pass ([`stream::next_batch`]). A bad request gets HTTP 400 and
//! `{"error": "..."}` with the message `infer stream` would give.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, mpsc};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use data::ArtifactDir;
use data::{MnistSource, MnistSplit, Split};
use model::TrainingSummary;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::atlas::Atlas;
use crate::predictor::Predictor;
use crate::stream::{self, Answer, MAX_BATCH, Request};

/// Largest request body accepted (a predict body with float pixels and every neuron listed is
/// under 32 KiB).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Predict requests that may wait for the inference thread before new ones get HTTP 503.
pub const QUEUE: usize = 8 * MAX_BATCH;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const STYLE_CSS: &str = include_str!("../assets/style.css");

/// Where the explorer's optional parts come from.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Where the test-image picker's images come from; `None` offers drawing only.
    pub test_set: Option<MnistSource>,
    /// The ablation CSV; `None` means `DIR/ablation.csv` when it exists.
    pub ablation: Option<PathBuf>,
    /// The folder of learned masks (`.jsonl`, `.csv`); `None` means `DIR/circuits`.
    pub circuits: Option<PathBuf>,
}

type Job = (Request, oneshot::Sender<Result<Answer, String>>);

/// Everything the handlers share: model facts, the test set, and the inference queue.
#[derive(Debug)]
pub struct Explorer {
    info: Value,
    hidden: Vec<usize>,
    default_keep: Vec<f32>,
    test_set: Option<MnistSplit>,
    ablation: PathBuf,
    circuits: PathBuf,
    artifact_dir: PathBuf,
    jobs: mpsc::SyncSender<Job>,
    /// A copy of the model for the atlas, made on first use.
    predictor: Predictor,
    atlas: OnceLock<Result<Atlas, String>>,
}

/// Top images an atlas entry carries.
const ATLAS_TOP: usize = 6;

impl Explorer {
    /// Load the test set and check the ablation file, then start the inference thread, which
    /// owns `predictor`.
    pub fn new(predictor: Predictor, artifact_dir: &Path, options: &ServeOptions) -> Result<Self> {
        let artifacts = ArtifactDir::new(artifact_dir);
        let test_set = match &options.test_set {
            Some(source) => Some(
                source
                    .load(Split::Test)
                    .with_context(|| format!("loading the test set from {}", source.describe()))?,
            ),
            None => None,
        };
        let ablation = match &options.ablation {
            Some(path) if !path.is_file() => bail!(
                "--ablation {}: no such file (write one with `infer ablate --output FILE`)",
                path.display()
            ),
            Some(path) => path.clone(),
            None => artifacts.ablation(),
        };
        let hidden = predictor.hidden().to_vec();
        let layer = hidden.len() - 1;
        let width = hidden[layer];
        let cols = crate::grid::grid_columns(width);
        let default_masks = predictor.default_masks();
        let off = default_masks.off_per_layer();
        let name = |l: usize, j: usize| -> Value {
            if hidden.len() == 1 {
                j.into()
            } else {
                format!("{l}:{j}").into()
            }
        };
        let summary: Option<TrainingSummary> = std::fs::read_to_string(artifacts.summary())
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        let info = json!({
            "artifact_dir": artifact_dir.display().to_string(),
            "input_size": predictor.config.model.input_size,
            "hidden": hidden,
            "classes": predictor.config.model.num_classes,
            "layer": layer,
            "neurons": width,
            "grid": {"rows": width.div_ceil(cols), "cols": cols},
            "deep": hidden.len() > 1,
            "default_off_in_layer": off[layer],
            "default_off_elsewhere": off.iter().enumerate()
                .filter(|&(l, _)| l != layer)
                .flat_map(|(l, list)| list.iter().map(move |&j| name(l, j)))
                .collect::<Vec<_>>(),
            "test_accuracy": summary.map(|s| s.test_accuracy),
            "test_images": test_set.as_ref().map_or(0, MnistSplit::len),
            "test_set": options.test_set.as_ref().map(MnistSource::describe),
            "ablation": ablation.is_file(),
            "ablation_file": ablation.display().to_string(),
            "max_body_bytes": MAX_BODY_BYTES,
        });
        Ok(Self {
            info,
            default_keep: default_masks.row(0).to_vec(),
            hidden,
            test_set,
            ablation,
            circuits: options
                .circuits
                .clone()
                .unwrap_or_else(|| artifact_dir.join("circuits")),
            artifact_dir: artifact_dir.to_path_buf(),
            jobs: spawn_inference(predictor.clone())?,
            predictor,
            atlas: OnceLock::new(),
        })
    }

    /// One line for the terminal: what the page will offer.
    pub fn describe(&self) -> String {
        let test = match &self.test_set {
            Some(set) => format!("{} test images", set.len()),
            None => "no test images (drawing only)".into(),
        };
        let ablation = if self.ablation.is_file() {
            format!("ablation map {}", self.ablation.display())
        } else {
            "no ablation map".into()
        };
        format!(
            "model {} -> {:?} -> {}; {test}; {ablation}",
            self.info["input_size"], self.hidden, self.info["classes"]
        )
    }
}

/// The inference thread: answers batches of waiting requests until every sender is gone.
fn spawn_inference(predictor: Predictor) -> Result<mpsc::SyncSender<Job>> {
    let (tx, rx) = mpsc::sync_channel::<Job>(QUEUE);
    std::thread::Builder::new()
        .name("inference".into())
        .spawn(move || {
            while let Some(batch) = stream::next_batch(&rx) {
                let (requests, replies): (Vec<Request>, Vec<_>) = batch.into_iter().unzip();
                match stream::answer(&predictor, &requests) {
                    Ok(answers) => {
                        for (answer, reply) in answers.into_iter().zip(replies) {
                            let _ = reply.send(Ok(answer));
                        }
                    }
                    Err(e) => {
                        let message = format!("inference failed: {e:#}");
                        for reply in replies {
                            let _ = reply.send(Err(message.clone()));
                        }
                    }
                }
            }
        })
        .context("starting the inference thread")?;
    Ok(tx)
}

/// Bind the listening socket; a port in use or a refused address is an error that names it.
pub fn bind(host: IpAddr, port: u16) -> Result<TcpListener> {
    let addr = SocketAddr::new(host, port);
    TcpListener::bind(addr).map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "port {port} on {host} is already in use (another infer serve?); \
             pick another with --port N, or --port 0 for any free one"
        ),
        std::io::ErrorKind::PermissionDenied => anyhow::anyhow!(
            "not allowed to listen on {addr} (ports below 1024 need privileges); try --port 8080"
        ),
        std::io::ErrorKind::AddrNotAvailable => {
            anyhow::anyhow!("--host {host} is not an address of this machine")
        }
        _ => anyhow::anyhow!("listening on {addr}: {e}"),
    })
}

/// Serve until the process ends.
pub fn serve(listener: TcpListener, explorer: Explorer) -> Result<()> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .thread_name("serve")
        .build()
        .context("starting the server's runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        axum::serve(listener, router(Arc::new(explorer))).await
    })?;
    Ok(())
}

/// The page's files: path, content type, text.
const ASSETS: [(&str, &str, &str); 4] = [
    ("/", "text/html; charset=utf-8", INDEX_HTML),
    ("/index.html", "text/html; charset=utf-8", INDEX_HTML),
    ("/app.js", "text/javascript; charset=utf-8", APP_JS),
    ("/style.css", "text/css; charset=utf-8", STYLE_CSS),
];

/// The routes; `explorer` is shared by every request.
pub fn router(explorer: Arc<Explorer>) -> Router {
    let mut router = Router::new();
    for (path, content_type, body) in ASSETS {
        router = router.route(path, get(move || async move { asset(content_type, body) }));
    }
    router
        .route("/api/info", get(info))
        .route("/api/test-image/{index}", get(test_image))
        .route("/api/ablation", get(ablation))
        .route("/api/neuron/{index}", get(neuron))
        .route("/api/circuits", get(circuits))
        .route("/api/predict", post(predict))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "no such page; the API is under /api (GET /api/info)".into(),
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(explorer)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `body` as JSON (f32 values written as f32, so the activations stay short).
fn reply(status: StatusCode, body: &impl serde::Serialize) -> Response {
    match serde_json::to_string(body) {
        Ok(text) => (status, [(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn error(status: StatusCode, message: String) -> Response {
    reply(status, &json!({ "error": message }))
}

async fn info(State(explorer): State<Arc<Explorer>>) -> Response {
    reply(StatusCode::OK, &explorer.info)
}

async fn test_image(
    State(explorer): State<Arc<Explorer>>,
    UrlPath(index): UrlPath<String>,
) -> Response {
    let Some(set) = &explorer.test_set else {
        return error(
            StatusCode::NOT_FOUND,
            "no test set: this explorer was started without test images (drawing only)".into(),
        );
    };
    let expected = format!(
        "expected an index from 0 to {}",
        set.len().saturating_sub(1)
    );
    match index.parse::<usize>() {
        Ok(i) if i < set.len() => reply(
            StatusCode::OK,
            &json!({"index": i, "label": set.label(i), "pixels": set.image(i)}),
        ),
        Ok(i) => error(
            StatusCode::NOT_FOUND,
            format!(
                "no test image {i}: the test set has {}; {expected}",
                set.len()
            ),
        ),
        Err(_) => error(
            StatusCode::BAD_REQUEST,
            format!("test image `{index}`: {expected}"),
        ),
    }
}

async fn ablation(State(explorer): State<Arc<Explorer>>) -> Response {
    let path = &explorer.ablation;
    if !path.is_file() {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "no ablation map at {}; write one with `infer ablate --artifact-dir {} --output {}`",
                path.display(),
                explorer.artifact_dir.display(),
                path.display()
            ),
        );
    }
    match ablation_map(path, &explorer.hidden) {
        Ok(map) => reply(StatusCode::OK, &map),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    }
}

/// The last hidden layer's rows of an ablation CSV, as per-neuron lists in neuron order.
fn ablation_map(path: &Path, hidden: &[usize]) -> Result<Value> {
    let layer = hidden.len() - 1;
    let width = hidden[layer];
    let mut delta_accuracy = vec![Value::Null; width];
    let mut delta_loss = vec![Value::Null; width];
    let mut rank = vec![Value::Null; width];
    let mut covered = 0;
    for row in crate::ablate::read_csv(path)? {
        if row.layer != layer {
            continue;
        }
        if row.neuron >= width {
            bail!(
                "{}: neuron {} of layer {layer}, but the model's layer has {width} neurons \
                 (was the map made for another model?)",
                path.display(),
                row.neuron
            );
        }
        delta_accuracy[row.neuron] = row.delta_accuracy.into();
        delta_loss[row.neuron] = row.delta_loss.into();
        rank[row.neuron] = row.rank.into();
        covered += 1;
    }
    if covered == 0 {
        bail!(
            "{}: no rows for hidden layer {layer}, the layer the explorer shows",
            path.display()
        );
    }
    Ok(json!({
        "file": path.display().to_string(),
        "layer": layer,
        "delta_accuracy": delta_accuracy,
        "delta_loss": delta_loss,
        "rank": rank,
    }))
}

async fn predict(
    State(explorer): State<Arc<Explorer>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return error(rejection.status(), rejection.body_text()),
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the body is not UTF-8 text; expected a JSON object".into(),
        );
    };
    let request = match stream::parse_request(text, &explorer.hidden, 255.0, &explorer.default_keep)
    {
        Ok(request) => request,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let (tx, rx) = oneshot::channel();
    if let Err(e) = explorer.jobs.try_send((request, tx)) {
        return match e {
            mpsc::TrySendError::Full(_) => error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("busy: {QUEUE} requests are waiting; try again"),
            ),
            mpsc::TrySendError::Disconnected(_) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the inference thread has stopped".into(),
            ),
        };
    }
    match rx.await {
        Ok(Ok(answer)) => reply(StatusCode::OK, &answer),
        Ok(Err(message)) => error(StatusCode::INTERNAL_SERVER_ERROR, message),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the inference thread has stopped".into(),
        ),
    }
}

impl Explorer {
    /// The shown layer's atlas over the test set, computed once.
    fn atlas(&self) -> Result<&Atlas, String> {
        let set = self.test_set.as_ref().ok_or_else(|| {
            "no test set: the atlas needs test images (start infer serve with --data-dir DIR)"
                .to_string()
        })?;
        self.atlas
            .get_or_init(|| {
                let inputs = crate::InputSet::from_split(set, String::new());
                crate::atlas::atlas(
                    &self.predictor,
                    &inputs.pixels,
                    inputs.labels.as_deref(),
                    self.hidden.len() - 1,
                    ATLAS_TOP,
                    "test set",
                )
                .map_err(|e| format!("computing the atlas: {e:#}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

async fn neuron(
    State(explorer): State<Arc<Explorer>>,
    UrlPath(index): UrlPath<String>,
) -> Response {
    let width = explorer.hidden[explorer.hidden.len() - 1];
    let j = match index.parse::<usize>() {
        Ok(j) if j < width => j,
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                format!(
                    "neuron `{index}`: expected an index from 0 to {} (the shown layer's neurons)",
                    width - 1
                ),
            );
        }
    };
    let explorer2 = explorer.clone();
    let atlas = match tokio::task::spawn_blocking(move || explorer2.atlas().map(|_| ())).await {
        Ok(Ok(())) => explorer.atlas(),
        Ok(Err(message)) => Err(message),
        Err(e) => Err(format!("computing the atlas: {e}")),
    };
    let atlas = match atlas {
        Ok(atlas) => atlas,
        Err(message) => return error(StatusCode::NOT_FOUND, message),
    };
    let profile = &atlas.neurons[j];
    let top: Vec<Value> = profile
        .top_images
        .iter()
        .zip(&profile.top_activations)
        .map(|(&i, &a)| {
            let set = explorer.test_set.as_ref();
            json!({
                "index": i,
                "activation": a,
                "label": set.map(|s| s.label(i)),
                "pixels": set.map(|s| s.image(i)),
            })
        })
        .collect();
    reply(
        StatusCode::OK,
        &json!({
            "neuron": j,
            "layer": atlas.layer,
            "receptive_field": profile.receptive_field,
            "field_side": atlas.field_side,
            "scale": atlas.colour_scale(),
            "top": top,
            "mean_per_class": profile.mean_per_class,
            "mean": profile.mean,
            "zero_fraction": profile.zero_fraction,
        }),
    )
}

async fn circuits(State(explorer): State<Arc<Explorer>>) -> Response {
    reply(
        StatusCode::OK,
        &learned_masks(&explorer.circuits, &explorer.hidden),
    )
}

/// The mask files in `dir` (name order), each as the shown layer's kept neurons, or the
/// error reading it gave.
fn learned_masks(dir: &Path, hidden: &[usize]) -> Value {
    let layer = hidden.len() - 1;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| data::mask_files::check_written_type(p).is_ok() && p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let masks: Vec<Value> = files
        .iter()
        .map(|path| {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            match data::mask_files::read(path, hidden, model::MaskSemantics::Keep, 1) {
                Ok(table) if table.is_broadcast() => {
                    let kept = table.kept_per_layer()[layer]
                        .clone()
                        .unwrap_or_else(|| (0..hidden[layer]).collect());
                    json!({"name": name, "file": path.display().to_string(), "kept": kept})
                }
                Ok(_) => json!({"name": name, "file": path.display().to_string(),
                    "error": "more than one row; expected one mask for all inputs"}),
                Err(e) => json!({"name": name, "file": path.display().to_string(),
                    "error": e.to_string()}),
            }
        })
        .collect();
    json!({"dir": dir.display().to_string(), "masks": masks})
}
