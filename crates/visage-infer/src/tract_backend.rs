//! tract, the pure-Rust backend.

use crate::{model_name, BackendKind, InferError, Model};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tract_onnx::prelude::*;

type Plan = TypedSimplePlan;

/// A model on tract. tract runs fastest with a plan optimised for one fixed input shape (a symbolic
/// batch made it about 2x slower), so the model keeps the parsed graph and one plan per input shape,
/// built on first use. Plans are immutable and shared by all threads.
pub struct TractModel {
    path: PathBuf,
    name: String,
    graph: InferenceModel,
    plans: Mutex<HashMap<Vec<usize>, Arc<Plan>>>,
}

/// At most this many plans are kept per model (detectors see many image sizes); when the cache is full
/// it is emptied and refilled, which is simple and bounds memory.
const MAX_PLANS: usize = 16;

impl TractModel {
    pub fn load(path: &Path) -> Result<Self, InferError> {
        let graph = tract_onnx::onnx()
            .model_for_path(path)
            .map_err(|e| InferError::Load { path: path.to_path_buf(), reason: format!("{e:#}") })?;
        Ok(TractModel { path: path.to_path_buf(), name: model_name(path), graph, plans: Mutex::new(HashMap::new()) })
    }

    fn plan_for(&self, shape: &[usize]) -> Result<Arc<Plan>, InferError> {
        if let Some(plan) = self.plans.lock().expect("plan cache poisoned").get(shape) {
            return Ok(plan.clone());
        }
        let err = |e: TractError| InferError::Load { path: self.path.clone(), reason: format!("{e:#}") };
        let mut graph = self.graph.clone().with_input_fact(0, f32::fact(shape).into()).map_err(err)?;
        // Output shapes declared in the file may be stale for a new input size: let tract infer them.
        for i in 0..graph.output_outlets().map_err(err)?.len() {
            graph = graph.with_output_fact(i, InferenceFact::default()).map_err(err)?;
        }
        let plan = graph.into_optimized().map_err(err)?.into_runnable().map_err(err)?;
        let mut plans = self.plans.lock().expect("plan cache poisoned");
        if plans.len() >= MAX_PLANS {
            plans.clear();
        }
        plans.insert(shape.to_vec(), plan.clone());
        Ok(plan)
    }
}

impl Model for TractModel {
    fn run(&self, input: ArrayViewD<'_, f32>) -> Result<Vec<ArrayD<f32>>, InferError> {
        let err = |e: TractError| InferError::Run { model: self.name.clone(), reason: format!("{e:#}") };
        let plan = self.plan_for(input.shape())?;
        let input = input.as_standard_layout();
        let data = input.as_slice().expect("standard layout is contiguous");
        let tensor = Tensor::from_shape(input.shape(), data).map_err(err)?;
        let outputs = plan.run(tvec!(tensor.into())).map_err(err)?;
        outputs
            .iter()
            .map(|t| {
                let view = t.try_as_plain_ram().map_err(err)?;
                let data = view.as_slice::<f32>().map_err(err)?;
                ArrayD::from_shape_vec(IxDyn(t.shape()), data.to_vec())
                    .map_err(|e| InferError::Run { model: self.name.clone(), reason: e.to_string() })
            })
            .collect()
    }

    fn backend(&self) -> BackendKind {
        BackendKind::Tract
    }
}
