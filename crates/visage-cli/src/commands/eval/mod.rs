//! `visage eval`: accuracy on benchmarks, one module per benchmark.

pub mod attributes;
pub mod compare;
pub mod fairness;
pub mod identify;
pub mod lfw;
pub mod pipeline;
pub mod wider;

use anyhow::Result;
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// LFW 10-fold verification accuracy, AUC and TAR@FAR.
    Lfw(lfw::LfwArgs),
    /// WIDER FACE detection AP (easy, medium, hard) for each detector, the official way.
    Wider(wider::WiderArgs),
    /// Open-set identification on LFW: rank-1/5, FNIR at FPIR, threshold against gallery size.
    Identify(identify::IdentifyEvalArgs),
    /// Per-group FMR and FNMR with confidence intervals, differentials and FMR-equalising thresholds.
    Fairness(fairness::FairnessArgs),
    /// Passive liveness on a real/ + spoof/ folder: APCER, BPCER, ACER, ROC AUC, the error curve.
    Liveness(attributes::EvalLivenessArgs),
    /// Gender accuracy on LFW with the Afifi & Abdelhamed labels.
    Gender(attributes::EvalGenderArgs),
}

/// Runs one evaluation.
pub fn run(cmd: &EvalCommand) -> Result<ExitCode> {
    match cmd {
        EvalCommand::Lfw(args) => lfw::run(args),
        EvalCommand::Wider(args) => wider::run(args),
        EvalCommand::Identify(args) => identify::run(args),
        EvalCommand::Fairness(args) => fairness::run(args),
        EvalCommand::Liveness(args) => attributes::liveness(args),
        EvalCommand::Gender(args) => attributes::gender(args),
    }
}
