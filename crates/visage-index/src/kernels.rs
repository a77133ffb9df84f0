//! The inner loops of the exact scan: one query against a block of contiguous rows.
//!
//! visage builds for baseline x86-64 (SSE2), so the AVX2 + FMA versions are compiled with
//! `#[target_feature]` and chosen at run time; the portable versions are written with independent
//! accumulators so that LLVM vectorises them too (a single running sum is a dependency chain it may not
//! reorder). AVX-512 would need Rust 1.89 for its intrinsics, above the workspace's rust-version; the
//! scan is bound by memory bandwidth beyond a few thousand rows anyway.

/// `out[i] = dot(query, rows[i * dim .. (i + 1) * dim])` for every `i < out.len()`.
pub(crate) fn scores_f32(query: &[f32], rows: &[f32], out: &mut [f32]) {
    let dim = query.len();
    assert!(rows.len() >= out.len() * dim, "rows shorter than the scores asked for");
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked above); bounds are asserted above.
        unsafe { x86::scores_f32_avx2(query, rows, out) };
        return;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = dot_portable(query, &rows[i * dim..(i + 1) * dim]);
    }
}

/// Scores a tile of queries against a tile of rows: `out[qi * stride + r] = dot(query qi, row r)`.
///
/// Each row is loaded once for several queries (and each query chunk once for several rows), so a batch
/// of queries is bound by arithmetic instead of memory bandwidth, like a matrix product.
pub(crate) fn scores_f32_tile(queries: &[f32], rows: &[f32], dim: usize, out: &mut [f32], stride: usize) {
    let (nq, nr) = (queries.len() / dim, rows.len() / dim);
    assert!(nr <= stride && out.len() >= nq.saturating_sub(1) * stride + nr, "output tile too small");
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA; sizes are asserted above.
        unsafe { x86::scores_f32_tile_avx2(queries, rows, dim, out, stride) };
        return;
    }
    for (qi, q) in queries.chunks_exact(dim).enumerate() {
        scores_f32(q, rows, &mut out[qi * stride..qi * stride + nr]);
    }
}

/// Dot product of two f32 slices of equal length.
pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    dot_f32_fn()(a, b)
}

/// The best dot product kernel for this CPU, chosen once: for callers that compute one product at a
/// time many times over (the HNSW graph walk).
pub(crate) fn dot_f32_fn() -> fn(&[f32], &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        return x86::dot_f32_checked;
    }
    |a, b| {
        assert_eq!(a.len(), b.len());
        dot_portable(a, b)
    }
}

/// `out[i] = dot(query, rows[i * dim .. (i + 1) * dim])` in integers, for int8 rows. The query comes
/// already widened to i16: that is done once per search instead of once per row.
pub(crate) fn scores_i8(query: &[i16], rows: &[i8], out: &mut [i32]) {
    let dim = query.len();
    assert!(rows.len() >= out.len() * dim, "rows shorter than the scores asked for");
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: as above.
        unsafe { x86::scores_i8_avx2(query, rows, out) };
        return;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = dot_i8_portable(query, &rows[i * dim..(i + 1) * dim]);
    }
}

/// Bytes of the per-vector scale appended to the int8 codes of the HNSW graph (an f32, little-endian).
pub(crate) const CODE_SCALE_BYTES: usize = 4;

/// Quantises `v` to int8 codes for the HNSW graph: `dim` codes `round(x / scale)` with `scale =
/// max|x| / 127`, followed by `scale` itself in [`CODE_SCALE_BYTES`] bytes, so that the distance needs
/// nothing but the two code slices (usearch hands the metric two pointers and nothing else). A per-vector
/// scale keeps the full int8 range for every vector, whatever its largest component.
pub(crate) fn i8_codes(v: &[f32], out: &mut Vec<i8>) {
    out.clear();
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    out.extend(v.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8));
    out.extend(scale.to_le_bytes().map(|b| b as i8));
}

/// The inner-product distance (`1 - dot`) between two int8 code vectors of [`i8_codes`] (`dim` codes
/// plus the scale), as usearch calls its metric.
pub(crate) fn i8_ip_distance(dim: usize) -> Box<dyn Fn(*const i8, *const i8) -> f32 + Send + Sync> {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: usearch passes two vectors of the index's dimensions (`dim` codes and the scale); the
        // CPU check is above.
        return Box::new(move |a, b| unsafe { x86::i8_ip_distance_avx2(a, b, dim) });
    }
    Box::new(move |a, b| {
        // SAFETY: as above.
        let (x, y) = unsafe { (std::slice::from_raw_parts(a, dim), std::slice::from_raw_parts(b, dim)) };
        let dot: i32 = x.iter().zip(y).map(|(&p, &q)| i32::from(p) * i32::from(q)).sum();
        // SAFETY: as above.
        unsafe { 1.0 - dot as f32 * code_scale(a, dim) * code_scale(b, dim) }
    })
}

/// The scale stored after the `dim` codes of an [`i8_codes`] vector.
///
/// # Safety
/// `codes` must point to `dim + CODE_SCALE_BYTES` readable bytes.
#[inline(always)]
unsafe fn code_scale(codes: *const i8, dim: usize) -> f32 {
    f32::from_le_bytes(std::ptr::read_unaligned(codes.add(dim) as *const [u8; CODE_SCALE_BYTES]))
}

/// Name of the kernel set chosen on this CPU, for benchmark reports.
pub fn simd_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        return "avx2+fma";
    }
    "portable"
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn has_avx2_fma() -> bool {
    // The std macro caches the CPUID result in an atomic: this costs a load per call.
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ac.remainder().iter().zip(bc.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ac.zip(bc) {
        for j in 0..LANES {
            acc[j] += x[j] * y[j];
        }
    }
    acc.iter().sum::<f32>() + tail
}

fn dot_i8_portable(q: &[i16], r: &[i8]) -> i32 {
    const LANES: usize = 16;
    let mut acc = [0i32; LANES];
    let (qc, rc) = (q.chunks_exact(LANES), r.chunks_exact(LANES));
    let tail: i32 = qc.remainder().iter().zip(rc.remainder()).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum();
    for (x, y) in qc.zip(rc) {
        for j in 0..LANES {
            acc[j] += i32::from(x[j]) * i32::from(y[j]);
        }
    }
    acc.iter().sum::<i32>() + tail
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum_ps(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum_epi32(v: __m256i) -> i32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
        _mm_cvtsi128_si32(s)
    }

    /// One pair with four accumulators: the FMA latency chain is split four ways.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
        let dim = a.len().min(b.len());
        let body = dim - dim % 32;
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut j = 0;
        while j < body {
            for (k, acc) in acc.iter_mut().enumerate() {
                *acc = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(j + 8 * k)), _mm256_loadu_ps(pb.add(j + 8 * k)), *acc);
            }
            j += 32;
        }
        let mut s = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
        for t in body..dim {
            s += *pa.add(t) * *pb.add(t);
        }
        s
    }

    /// Safe entry to [`dot_f32_avx2`]; handed out by `dot_f32_fn` only after the CPU check.
    pub(super) fn dot_f32_checked(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        // SAFETY: only reachable through `dot_f32_fn`, which checked AVX2 and FMA.
        unsafe { dot_f32_avx2(a, b) }
    }

    /// int8 dot product of two code vectors in [-127, 127]: `vpmaddubsw` multiplies |a| (unsigned) by b
    /// with a's sign (pairs summed into i16: at most 2 * 127 * 127, no saturation), `vpmaddwd` widens to
    /// i32. 64 codes per step over two accumulators.
    ///
    /// # Safety
    /// The CPU must support AVX2; `a` and `b` must point to `dim` readable bytes.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn dot_i8_avx2(a: *const i8, b: *const i8, dim: usize) -> i32 {
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_si256(); 2];
        let mut j = 0;
        while j + 64 <= dim {
            for (k, acc) in acc.iter_mut().enumerate() {
                let x = _mm256_loadu_si256(a.add(j + 32 * k) as *const __m256i);
                let y = _mm256_loadu_si256(b.add(j + 32 * k) as *const __m256i);
                let pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(x), _mm256_sign_epi8(y, x));
                *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(pairs, ones));
            }
            j += 64;
        }
        let mut s = hsum_epi32(_mm256_add_epi32(acc[0], acc[1]));
        while j < dim {
            s += i32::from(*a.add(j)) * i32::from(*b.add(j));
            j += 1;
        }
        s
    }

    /// `1 - dot * scale_a * scale_b` over two [`super::i8_codes`] vectors, in one function so that the
    /// graph walk pays one call per distance.
    ///
    /// # Safety
    /// The CPU must support AVX2; `a` and `b` must point to `dim + CODE_SCALE_BYTES` readable bytes.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn i8_ip_distance_avx2(a: *const i8, b: *const i8, dim: usize) -> f32 {
        1.0 - dot_i8_avx2(a, b, dim) as f32 * super::code_scale(a, dim) * super::code_scale(b, dim)
    }

    /// Four rows at a time with two accumulators each: eight independent FMA chains hide the FMA
    /// latency, and each query load serves four rows.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `rows.len() >= out.len() * query.len()`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn scores_f32_avx2(query: &[f32], rows: &[f32], out: &mut [f32]) {
        let dim = query.len();
        let body = dim - dim % 16;
        let q = query.as_ptr();
        let n = out.len();
        let mut i = 0;
        while i + 4 <= n {
            let r = [0, 1, 2, 3].map(|k| rows.as_ptr().add((i + k) * dim));
            let mut a = [_mm256_setzero_ps(); 4];
            let mut b = [_mm256_setzero_ps(); 4];
            let mut j = 0;
            while j < body {
                let q0 = _mm256_loadu_ps(q.add(j));
                let q1 = _mm256_loadu_ps(q.add(j + 8));
                for k in 0..4 {
                    a[k] = _mm256_fmadd_ps(_mm256_loadu_ps(r[k].add(j)), q0, a[k]);
                    b[k] = _mm256_fmadd_ps(_mm256_loadu_ps(r[k].add(j + 8)), q1, b[k]);
                }
                j += 16;
            }
            for k in 0..4 {
                let mut s = hsum_ps(_mm256_add_ps(a[k], b[k]));
                for t in body..dim {
                    s += *q.add(t) * *r[k].add(t);
                }
                out[i + k] = s;
            }
            i += 4;
        }
        while i < n {
            let r = rows.as_ptr().add(i * dim);
            let (mut a, mut b) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            let mut j = 0;
            while j < body {
                a = _mm256_fmadd_ps(_mm256_loadu_ps(r.add(j)), _mm256_loadu_ps(q.add(j)), a);
                b = _mm256_fmadd_ps(_mm256_loadu_ps(r.add(j + 8)), _mm256_loadu_ps(q.add(j + 8)), b);
                j += 16;
            }
            let mut s = hsum_ps(_mm256_add_ps(a, b));
            for t in body..dim {
                s += *q.add(t) * *r.add(t);
            }
            out[i] = s;
            i += 1;
        }
    }

    /// Register tile of 4 rows x 3 queries: 12 accumulators plus 7 loads per 8 dimensions keep both FMA
    /// ports busy. Leftover queries and rows go through the one-query kernel.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `out` holds `queries / dim` rows of `stride >= rows / dim`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn scores_f32_tile_avx2(
        queries: &[f32],
        rows: &[f32],
        dim: usize,
        out: &mut [f32],
        stride: usize,
    ) {
        let (nq, nr) = (queries.len() / dim, rows.len() / dim);
        let body = dim - dim % 8;
        let (nq3, nr4) = (nq - nq % 3, nr - nr % 4);
        let mut qi = 0;
        while qi < nq3 {
            let q = [0, 1, 2].map(|j| queries.as_ptr().add((qi + j) * dim));
            let mut r = 0;
            while r < nr4 {
                let p = [0, 1, 2, 3].map(|k| rows.as_ptr().add((r + k) * dim));
                let mut acc = [[_mm256_setzero_ps(); 4]; 3];
                let mut d = 0;
                while d < body {
                    let rv = [0, 1, 2, 3].map(|k| _mm256_loadu_ps(p[k].add(d)));
                    for j in 0..3 {
                        let qv = _mm256_loadu_ps(q[j].add(d));
                        for k in 0..4 {
                            acc[j][k] = _mm256_fmadd_ps(rv[k], qv, acc[j][k]);
                        }
                    }
                    d += 8;
                }
                for j in 0..3 {
                    for k in 0..4 {
                        let mut s = hsum_ps(acc[j][k]);
                        for t in body..dim {
                            s += *q[j].add(t) * *p[k].add(t);
                        }
                        out[(qi + j) * stride + r + k] = s;
                    }
                }
                r += 4;
            }
            for j in 0..3 {
                let o = (qi + j) * stride;
                scores_f32_avx2(
                    &queries[(qi + j) * dim..(qi + j + 1) * dim],
                    &rows[nr4 * dim..],
                    &mut out[o + nr4..o + nr],
                );
            }
            qi += 3;
        }
        for qi in nq3..nq {
            let o = qi * stride;
            scores_f32_avx2(&queries[qi * dim..(qi + 1) * dim], rows, &mut out[o..o + nr]);
        }
    }

    /// int8 rows widened to i16 and multiplied with `vpmaddwd` (pairs of i16 products summed into i32):
    /// exact, no saturation, for any realistic dimension.
    ///
    /// # Safety
    /// The CPU must support AVX2; `rows.len() >= out.len() * query.len()`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn scores_i8_avx2(query: &[i16], rows: &[i8], out: &mut [i32]) {
        let dim = query.len();
        let body = dim - dim % 16;
        let q = query.as_ptr();
        let n = out.len();
        let mut i = 0;
        while i + 4 <= n {
            let r = [0, 1, 2, 3].map(|k| rows.as_ptr().add((i + k) * dim));
            let mut a = [_mm256_setzero_si256(); 4];
            let mut j = 0;
            while j < body {
                let qv = _mm256_loadu_si256(q.add(j) as *const __m256i);
                for k in 0..4 {
                    let rv = _mm256_cvtepi8_epi16(_mm_loadu_si128(r[k].add(j) as *const __m128i));
                    a[k] = _mm256_add_epi32(a[k], _mm256_madd_epi16(qv, rv));
                }
                j += 16;
            }
            for k in 0..4 {
                let mut s = hsum_epi32(a[k]);
                for t in body..dim {
                    s += i32::from(*q.add(t)) * i32::from(*r[k].add(t));
                }
                out[i + k] = s;
            }
            i += 4;
        }
        while i < n {
            let r = rows.as_ptr().add(i * dim);
            let mut a = _mm256_setzero_si256();
            let mut j = 0;
            while j < body {
                let qv = _mm256_loadu_si256(q.add(j) as *const __m256i);
                let rv = _mm256_cvtepi8_epi16(_mm_loadu_si128(r.add(j) as *const __m128i));
                a = _mm256_add_epi32(a, _mm256_madd_epi16(qv, rv));
                j += 16;
            }
            let mut s = hsum_epi32(a);
            for t in body..dim {
                s += i32::from(*q.add(t)) * i32::from(*r.add(t));
            }
            out[i] = s;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(q: &[f32], r: &[f32]) -> f32 {
        q.iter().zip(r).map(|(a, b)| a * b).sum()
    }

    #[test]
    fn simd_and_portable_agree_with_naive_for_odd_sizes() {
        for dim in [1, 7, 16, 33, 512, 515] {
            for n in [1, 3, 4, 9] {
                let q: Vec<f32> = (0..dim).map(|i| ((i * 7 % 13) as f32 - 6.0) / 10.0).collect();
                let rows: Vec<f32> = (0..n * dim).map(|i| ((i * 5 % 11) as f32 - 5.0) / 10.0).collect();
                let mut out = vec![0.0; n];
                scores_f32(&q, &rows, &mut out);
                for i in 0..n {
                    let want = naive(&q, &rows[i * dim..(i + 1) * dim]);
                    assert!((out[i] - want).abs() < 1e-3, "dim {dim} row {i}: {} vs {want}", out[i]);
                    assert!((dot_portable(&q, &rows[i * dim..(i + 1) * dim]) - want).abs() < 1e-3);
                    assert!((dot_f32(&q, &rows[i * dim..(i + 1) * dim]) - want).abs() < 1e-3);
                }
                for nq in [1, 3, 5] {
                    let qs: Vec<f32> = (0..nq * dim).map(|i| ((i * 3 % 17) as f32 - 8.0) / 10.0).collect();
                    let stride = n + 2;
                    let mut tile = vec![0.0; nq * stride];
                    scores_f32_tile(&qs, &rows, dim, &mut tile, stride);
                    for qi in 0..nq {
                        for r in 0..n {
                            let want = naive(&qs[qi * dim..(qi + 1) * dim], &rows[r * dim..(r + 1) * dim]);
                            assert!((tile[qi * stride + r] - want).abs() < 1e-3, "tile q{qi} r{r} dim {dim}");
                        }
                    }
                }
                let q8: Vec<i16> = (0..dim).map(|i| (i as i16 * 37 % 255) - 127).collect();
                let r8: Vec<i8> = (0..n * dim).map(|i| ((i * 91 % 255) as i32 - 127) as i8).collect();
                let mut out8 = vec![0; n];
                scores_i8(&q8, &r8, &mut out8);
                for i in 0..n {
                    let row = &r8[i * dim..(i + 1) * dim];
                    let want: i32 = q8.iter().zip(row).map(|(&a, &b)| i32::from(a) * i32::from(b)).sum();
                    assert_eq!(out8[i], want);
                    assert_eq!(dot_i8_portable(&q8, row), want);
                }
            }
        }
    }

    #[test]
    fn i8_distance_matches_the_f32_dot_product_within_the_quantisation_error() {
        for dim in [3, 64, 100, 512] {
            let a: Vec<f32> = (0..dim).map(|i| ((i * 7 % 13) as f32 - 6.0) / 10.0).collect();
            let b: Vec<f32> = (0..dim).map(|i| ((i * 5 % 11) as f32 - 5.0) / 10.0).collect();
            let unit = |v: &[f32]| {
                let n = naive(v, v).sqrt();
                v.iter().map(|x| x / n).collect::<Vec<f32>>()
            };
            let (a, b) = (unit(&a), unit(&b));
            let (mut ca, mut cb) = (Vec::new(), Vec::new());
            i8_codes(&a, &mut ca);
            i8_codes(&b, &mut cb);
            assert_eq!(ca.len(), dim + CODE_SCALE_BYTES);
            let d = i8_ip_distance(dim)(ca.as_ptr(), cb.as_ptr());
            assert!((1.0 - d - naive(&a, &b)).abs() < 0.01, "dim {dim}: {} vs {}", 1.0 - d, naive(&a, &b));
            let same = i8_ip_distance(dim)(ca.as_ptr(), ca.as_ptr());
            assert!(same.abs() < 0.01, "dim {dim}: self distance {same}");
        }
    }
}
