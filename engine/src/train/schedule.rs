//! Learning-rate schedule.

/// Linear warm-up over `warmup` steps to `peak`, then cosine decay to 0 at `total` steps
/// (`step` counts from 0).
pub fn cosine_with_warmup(step: usize, total: usize, warmup: usize, peak: f64) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let decay_steps = total.saturating_sub(warmup).max(1);
    let progress = ((step - warmup) as f64 / decay_steps as f64).min(1.0);
    peak * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}
