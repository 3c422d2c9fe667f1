/*
 * GNNIMPUTE: impute each sample; with --benchmark, also mask it, impute the masked
 * matrix and score the imputation against the hidden counts.
 */

include { GNNIMPUTE_SIMULATE                          } from '../modules/local/gnnimpute/simulate/main'
include { GNNIMPUTE_IMPUTE                            } from '../modules/local/gnnimpute/impute/main'
include { GNNIMPUTE_MASK                              } from '../modules/local/gnnimpute/mask/main'
include { GNNIMPUTE_IMPUTE as GNNIMPUTE_IMPUTE_MASKED } from '../modules/local/gnnimpute/impute/main'
include { GNNIMPUTE_EVALUATE                          } from '../modules/local/gnnimpute/evaluate/main'

workflow GNNIMPUTE {

    take:
    ch_samplesheet  // channel: [ val(meta), path(h5ad), val(label_key) ]; empty: simulate a dataset

    main:
    ch_versions = Channel.empty()
    if (params.input) {
        ch_samples = ch_samplesheet
    } else {
        GNNIMPUTE_SIMULATE(Channel.of([id: params.sim_id]))
        ch_samples  = GNNIMPUTE_SIMULATE.out.h5ad.map { meta, h5ad -> [meta, h5ad, params.label_key ?: ''] }
        ch_versions = ch_versions.mix(GNNIMPUTE_SIMULATE.out.versions_gnnimpute)
    }
    // label_key only scores the benchmark: it stays out of the meta of the steps that
    // compute, so that adding one and resuming redoes the evaluation alone
    ch_input = ch_samples.map { meta, h5ad, label_key -> [meta, h5ad] }

    GNNIMPUTE_IMPUTE(ch_input)
    ch_versions = ch_versions.mix(GNNIMPUTE_IMPUTE.out.versions_gnnimpute, GNNIMPUTE_IMPUTE.out.versions_torch)

    if (params.benchmark) {
        GNNIMPUTE_MASK(ch_input)
        GNNIMPUTE_IMPUTE_MASKED(GNNIMPUTE_MASK.out.masked)
        // A sample whose masked imputation failed (or a run stopped early) has no pair:
        // say so, rather than the join's "Join mismatch" error.
        ch_eval = GNNIMPUTE_IMPUTE_MASKED.out.h5ad
            .join(GNNIMPUTE_MASK.out.truth, remainder: true)
            .filter { meta, imputed, truth ->
                if (imputed == null || truth == null) {
                    log.warn "Sample ${meta.id}: no imputed masked matrix (its task failed or the run was stopped); its benchmark is skipped"
                    return false
                }
                return true
            }
            .join(ch_samples.map { meta, h5ad, label_key -> [meta, label_key] })
            .map { meta, imputed, truth, label_key -> [meta + (label_key ? [label_key: label_key] : [:]), imputed, truth] }
        GNNIMPUTE_EVALUATE(ch_eval)
        ch_versions = ch_versions.mix(
            GNNIMPUTE_MASK.out.versions_gnnimpute,
            GNNIMPUTE_IMPUTE_MASKED.out.versions_gnnimpute,
            GNNIMPUTE_IMPUTE_MASKED.out.versions_torch,
            GNNIMPUTE_EVALUATE.out.versions_gnnimpute,
        )
        // one TSV row per sample with every scalar metric (stub runs write '{}')
        GNNIMPUTE_EVALUATE.out.json
            .map { meta, json -> metricsRow(meta, json) }
            .toList()
            .map { rows -> metricsTable(rows) }
            .collectFile(name: 'metrics_summary.tsv', storeDir: "${params.outdir}/benchmark", sort: false)
    }

    emit:
    versions = ch_versions  // channel: [ process, tool, version ]
}

// [ sample, metrics ] of one evaluate JSON. Read as text through the path's own file
// system, so that S3, GCS and Azure work directories work as local ones do.
def metricsRow(Map meta, json) {
    [meta.id, new groovy.json.JsonSlurper().parseText(json.text) ?: [:]]
}

def flattenMap(Map m, String prefix = '') {
    def out = [:]
    m.each { k, v ->
        def key = prefix ? "${prefix}.${k}" : "${k}"
        if (v instanceof Map) {
            out.putAll(flattenMap(v, key))
        } else if (v == null || v instanceof Number || v instanceof CharSequence || v instanceof Boolean) {
            out[key] = v
        }
    }
    return out
}

// rows: [ [sample, Map metrics], ... ] -> TSV with one line per sample
def metricsTable(List rows) {
    def flat = rows.sort { it[0] }.collect { [it[0], flattenMap(it[1] as Map)] }
    def columns = flat.collect { it[1].keySet() }.flatten().unique()
    def out = [(['sample'] + columns).join('\t')]
    flat.each { sample, m -> out << ([sample] + columns.collect { c -> m.containsKey(c) && m[c] != null ? m[c].toString() : 'NA' }).join('\t') }
    return out.join('\n') + '\n'
}
