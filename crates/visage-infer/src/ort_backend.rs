//! ONNX Runtime via `ort` with `load-dynamic`.

use crate::{model_name, BackendKind, InferError, Model};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use ort::logging::LogLevel;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The process-wide ONNX Runtime environment: ONNX Runtime allows one, and the library can be loaded
/// once. The first path wins; the result (or the error) is kept for later callers.
static ENVIRONMENT: OnceLock<Result<(ort::environment::Environment, PathBuf), String>> = OnceLock::new();

fn environment(library: &Path) -> Result<&'static ort::environment::Environment, InferError> {
    let result = ENVIRONMENT.get_or_init(|| {
        if !library.is_file() {
            return Err(format!("{} does not exist", library.display()));
        }
        let logger: ort::logging::LoggerFunction = Arc::new(|level, category, _id, _location, message| {
            // ONNX Runtime warns once per initializer listed among graph inputs in fr_feature.onnx;
            // only errors are worth a user's attention.
            if matches!(level, LogLevel::Error | LogLevel::Fatal) {
                tracing::error!(target: "onnxruntime", "{category}: {message}");
            } else {
                tracing::trace!(target: "onnxruntime", "{category}: {message}");
            }
        });
        let env = ort::init_from(library)
            .map_err(|e| e.to_string())?
            .with_name("visage")
            .with_logger(logger)
            .build()
            .map_err(|e| e.to_string())?;
        Ok((env, library.to_path_buf()))
    });
    match result {
        Ok((env, _)) => Ok(env),
        Err(reason) => Err(InferError::RuntimeLibrary { path: library.to_path_buf(), reason: reason.clone() }),
    }
}

/// The version string the loaded ONNX Runtime library reports, once a model has been loaded.
pub fn ort_library_version() -> Option<String> {
    ENVIRONMENT.get()?.as_ref().ok()?;
    Some(ort::info().to_string())
}

/// A model on ONNX Runtime. `Session::run` needs exclusive access, so the model keeps a pool of
/// sessions: a thread takes one (creating it on first need) and returns it after the run. With N
/// threads there are at most N sessions.
pub struct OrtModel {
    path: PathBuf,
    name: String,
    intra_threads: usize,
    env: &'static ort::environment::Environment,
    pool: Mutex<Vec<Session>>,
}

impl OrtModel {
    /// Loads `path` on the runtime in `library`; the first session is created now so errors show early.
    pub fn load(path: &Path, library: &Path, intra_threads: usize) -> Result<Self, InferError> {
        let env = environment(library)?;
        let model = OrtModel {
            path: path.to_path_buf(),
            name: model_name(path),
            intra_threads: intra_threads.max(1),
            env,
            pool: Mutex::new(Vec::new()),
        };
        let first = model.new_session()?;
        model.pool.lock().expect("session pool poisoned").push(first);
        Ok(model)
    }

    fn new_session(&self) -> Result<Session, InferError> {
        let err = |e: String| InferError::Load { path: self.path.clone(), reason: e };
        Session::builder(self.env)
            .map_err(|e| err(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| err(e.to_string()))?
            .with_intra_threads(self.intra_threads)
            .map_err(|e| err(e.to_string()))?
            .with_inter_threads(1)
            .map_err(|e| err(e.to_string()))?
            .with_log_level(LogLevel::Error)
            .map_err(|e| err(e.to_string()))?
            .commit_from_file(&self.path)
            .map_err(|e| err(e.to_string()))
    }

    fn run_on(&self, session: &mut Session, input: ArrayViewD<'_, f32>) -> Result<Vec<ArrayD<f32>>, InferError> {
        let err = |e: String| InferError::Run { model: self.name.clone(), reason: e };
        let input = input.as_standard_layout();
        let shape: Vec<i64> = input.shape().iter().map(|&d| d as i64).collect();
        let data = input.as_slice().expect("standard layout is contiguous");
        let tensor = TensorRef::from_array_view((shape, data)).map_err(|e| err(e.to_string()))?;
        let outputs = session.run(ort::inputs![tensor]).map_err(|e| err(e.to_string()))?;
        let mut result = Vec::with_capacity(outputs.len());
        for (_, value) in outputs.iter() {
            let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| err(e.to_string()))?;
            let dims: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
            let array = ArrayD::from_shape_vec(IxDyn(&dims), data.to_vec()).map_err(|e| err(e.to_string()))?;
            result.push(array);
        }
        Ok(result)
    }
}

impl Model for OrtModel {
    fn run(&self, input: ArrayViewD<'_, f32>) -> Result<Vec<ArrayD<f32>>, InferError> {
        let taken = self.pool.lock().expect("session pool poisoned").pop();
        let mut session = match taken {
            Some(s) => s,
            None => self.new_session()?,
        };
        let result = self.run_on(&mut session, input);
        self.pool.lock().expect("session pool poisoned").push(session);
        result
    }

    fn backend(&self) -> BackendKind {
        BackendKind::Ort
    }
}
