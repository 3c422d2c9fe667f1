#!/usr/bin/env nextflow
/*
 * gnnimpute: impute dropout in scRNA-seq count matrices with a graph-attention
 * autoencoder, one task per sample.
 *
 *   nextflow run main.nf --input samplesheet.csv --outdir results [-profile docker|singularity|conda|gpu|...]
 *   nextflow run main.nf --input sample.h5ad     --outdir results
 *   nextflow run main.nf -profile test           --outdir results
 *   nextflow run main.nf --help
 *
 * --input is a CSV samplesheet with the header `sample,h5ad` and optionally a
 * `label_key` column (obs column with cell labels for the benchmark's
 * clustering scores; relative h5ad paths are read from the samplesheet's
 * folder), or a single .h5ad file.
 * With --benchmark, each sample is also masked, imputed and evaluated.
 *
 * Parameters are validated against nextflow_schema.json here, without the
 * nf-schema plugin, so that the pipeline runs offline.
 */

nextflow.enable.dsl = 2

include { GNNIMPUTE_SIMULATE                          } from './modules/local/gnnimpute/simulate/main'
include { GNNIMPUTE_IMPUTE                            } from './modules/local/gnnimpute/impute/main'
include { GNNIMPUTE_MASK                              } from './modules/local/gnnimpute/mask/main'
include { GNNIMPUTE_IMPUTE as GNNIMPUTE_IMPUTE_MASKED } from './modules/local/gnnimpute/impute/main'
include { GNNIMPUTE_EVALUATE                          } from './modules/local/gnnimpute/evaluate/main'

/*
 * ---------------------------------------------------------------------------
 *  Parameter schema: help text and validation
 * ---------------------------------------------------------------------------
 */

def loadSchemaProperties() {
    def schema = new groovy.json.JsonSlurper().parse(file("${projectDir}/nextflow_schema.json").toFile())
    def props = [:]
    (schema['$defs'] ?: [:]).each { groupName, group ->
        (group.properties ?: [:]).each { name, spec -> props[name] = spec + [group: group.title ?: groupName] }
    }
    (schema.properties ?: [:]).each { name, spec -> props[name] = spec + [group: 'Other'] }
    return props
}

def helpMessage(Map props) {
    def lines = []
    lines << "gnnimpute pipeline v${workflow.manifest.version}"
    lines << ""
    lines << "Usage:"
    lines << "  nextflow run main.nf --input samplesheet.csv --outdir results [-profile docker|singularity|apptainer|conda|gpu|test|awsbatch|google]"
    props.groupBy { it.value.group }.each { group, entries ->
        lines << ""
        lines << "${group}:"
        entries.each { name, spec ->
            def dflt = spec.containsKey('default') ? " [default: ${spec.default}]" : ''
            def enums = spec.enum ? " (${spec.enum.join('|')})" : ''
            lines << "  --${name.padRight(18)} ${spec.type.padRight(8)} ${spec.description ?: ''}${enums}${dflt}"
        }
    }
    return lines.join('\n')
}

def isNumberLike(value) {
    value instanceof Number || (value instanceof CharSequence && value.toString().isNumber())
}

def isIntegerLike(value) {
    value instanceof Integer || value instanceof Long || value instanceof BigInteger ||
        (value instanceof CharSequence && value.toString().isBigInteger())
}

def validateParams(Map props) {
    def errors = []
    params.each { name, value ->
        def spec = props[name]
        if (spec == null) {
            def snake = name.replaceAll(/([A-Z])/, '_$1').toLowerCase().replace('-', '_')
            def kebabTwin = name.replaceAll(/([A-Z])/, '-$1').toLowerCase()
            if (name.contains('-') && props.containsKey(snake)) {
                // Nextflow would keep --min-genes apart from params.min_genes: the value would be ignored
                errors << "--${name}: parameter names use underscores: --${snake}"
            } else if (kebabTwin != name && params.containsKey(kebabTwin)) {
                // the camelCase twin that Nextflow adds for a kebab-case option: reported once, above
            } else {
                log.warn "Unknown parameter: --${name} (see --help)"
            }
            return
        }
        if (value == null) {
            return
        }
        def types = spec.type instanceof List ? spec.type : [spec.type]
        def ok = types.any { t ->
            switch (t) {
                case 'string':  return value instanceof CharSequence
                case 'integer': return isIntegerLike(value)
                case 'number':  return isNumberLike(value)
                case 'boolean': return value instanceof Boolean
                case 'null':    return value == null
                default:        return true
            }
        }
        if (!ok) {
            errors << "--${name}: expected ${types.join(' or ')}, got '${value}'"
            return
        }
        if (spec.enum && !(value.toString() in spec.enum.collect { it.toString() })) {
            errors << "--${name}: '${value}' is not one of ${spec.enum.join(', ')}"
        }
        if (spec.pattern && value instanceof CharSequence && !(value ==~ spec.pattern)) {
            errors << "--${name}: '${value}' does not match /${spec.pattern}/"
        }
        if (isNumberLike(value) && !(value instanceof Boolean)) {
            def number = value.toString().toBigDecimal()
            if (spec.containsKey('minimum') && number < spec.minimum) {
                errors << "--${name}: ${value} is below the minimum ${spec.minimum}"
            }
            if (spec.containsKey('maximum') && number > spec.maximum) {
                errors << "--${name}: ${value} is above the maximum ${spec.maximum}"
            }
            if (spec.containsKey('exclusiveMinimum') && number <= spec.exclusiveMinimum) {
                errors << "--${name}: ${value} must be greater than ${spec.exclusiveMinimum}"
            }
            if (spec.containsKey('exclusiveMaximum') && number >= spec.exclusiveMaximum) {
                errors << "--${name}: ${value} must be less than ${spec.exclusiveMaximum}"
            }
        }
    }
    if (errors) {
        error("Invalid parameters:\n  " + errors.join('\n  '))
    }
}

/*
 * ---------------------------------------------------------------------------
 *  Input: samplesheet or single h5ad
 * ---------------------------------------------------------------------------
 */

def resolveSheetPath(String path, sheet) {
    if (path ==~ /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/.*/ || path.startsWith('/')) {
        return file(path)
    }
    // relative paths are read from the samplesheet's own folder
    return sheet.parent.resolve(path)
}

def readInput(String input) {
    def inputFile = file(input)
    if (!inputFile.exists()) {
        error("Input file not found: ${input}\nPass --input with a samplesheet CSV (columns sample,h5ad) or a .h5ad file.")
    }
    if (inputFile.isDirectory()) {
        error("Input is a directory, not a file: ${input}\nPass --input with a samplesheet CSV (columns sample,h5ad) or a .h5ad file.")
    }
    def name = inputFile.name.toLowerCase()
    if (name.endsWith('.h5ad')) {
        def id = inputFile.name.replaceFirst(/(?i)\.h5ad$/, '').replaceAll(/[^A-Za-z0-9_.-]/, '_')
        return [[[id: id], inputFile]]
    }
    if (!(name.endsWith('.csv'))) {
        error("Input must be a samplesheet (.csv) or an AnnData file (.h5ad): ${input}")
    }

    def lines = inputFile.readLines().collect { it.trim() }.findAll { it && !it.startsWith('#') }
    if (!lines) {
        error("Samplesheet is empty: ${input}")
    }
    def header = lines[0].split(',', -1).collect { it.trim().replaceAll(/^"|"$/, '') }
    def missing = ['sample', 'h5ad'].findAll { !(it in header) }
    if (missing) {
        error("Samplesheet ${input} must have the columns sample,h5ad; missing: ${missing.join(', ')} (header: ${lines[0]})")
    }
    if (lines.size() < 2) {
        error("Samplesheet ${input} has a header but no samples")
    }
    def rows = []
    def seen = [] as Set
    lines.drop(1).eachWithIndex { line, i ->
        def lineNo = i + 2
        def cells = line.split(',', -1).collect { it.trim().replaceAll(/^"|"$/, '') }
        if (cells.size() != header.size()) {
            error("Samplesheet ${input}, line ${lineNo}: expected ${header.size()} columns, found ${cells.size()}: ${line}")
        }
        def row = [header, cells].transpose().collectEntries()
        def sample = row.sample
        if (!(sample ==~ /[A-Za-z0-9_.-]+/)) {
            error("Samplesheet ${input}, line ${lineNo}: sample name '${sample}' must be non-empty and use only letters, digits, '_', '.' and '-'")
        }
        if (!seen.add(sample)) {
            error("Samplesheet ${input}, line ${lineNo}: sample '${sample}' appears more than once")
        }
        if (!row.h5ad) {
            error("Samplesheet ${input}, line ${lineNo}: the h5ad column is empty for sample '${sample}'")
        }
        if (!row.h5ad.toLowerCase().endsWith('.h5ad')) {
            error("Samplesheet ${input}, line ${lineNo}: '${row.h5ad}' does not end in .h5ad")
        }
        def h5ad = resolveSheetPath(row.h5ad, inputFile)
        if (!h5ad.exists()) {
            error("Input file not found: ${h5ad} (sample '${sample}', line ${lineNo} of ${input})")
        }
        def meta = [id: sample]
        if (row.label_key) {
            meta.label_key = row.label_key
        }
        rows << [meta, h5ad]
    }
    return rows
}

/*
 * ---------------------------------------------------------------------------
 *  Versions and benchmark summary
 * ---------------------------------------------------------------------------
 */

// versions.yml of one task -> same text with the process name shortened to its last part
def normaliseVersions(String text) {
    def lines = text.readLines().findAll { it.trim() }
    if (!lines) {
        return ''
    }
    def process = lines[0].trim().replaceAll(/^"|"?:$|"$/, '').replaceAll(/:$/, '')
    return ([ "${process.tokenize(':')[-1]}:" ] + lines.drop(1)).join('\n')
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

def metricsTable(List rows) {
    // rows: [ [sample, Map metrics], ... ] -> TSV with one line per sample
    def flat = rows.sort { it[0] }.collect { [it[0], flattenMap(it[1] as Map)] }
    def columns = flat.collect { it[1].keySet() }.flatten().unique()
    def out = [(['sample'] + columns).join('\t')]
    flat.each { sample, m -> out << ([sample] + columns.collect { c -> m.containsKey(c) && m[c] != null ? m[c].toString() : 'NA' }).join('\t') }
    return out.join('\n') + '\n'
}

/*
 * ---------------------------------------------------------------------------
 *  Workflow
 * ---------------------------------------------------------------------------
 */

workflow {
    def schemaProps = loadSchemaProperties()
    if (params.help) {
        println helpMessage(schemaProps)
        return
    }
    if (params.validate_params) {
        validateParams(schemaProps)
    }

    ch_versions = Channel.empty()

    if (params.input) {
        ch_input = Channel.fromList(readInput(params.input.toString()))
    } else if (params.simulate) {
        GNNIMPUTE_SIMULATE(Channel.of([id: params.sim_id]))
        ch_input    = GNNIMPUTE_SIMULATE.out.h5ad
        ch_versions = ch_versions.mix(GNNIMPUTE_SIMULATE.out.versions)
    } else {
        error("Missing --input: pass a samplesheet CSV (columns sample,h5ad) or a .h5ad file (or use -profile test).")
    }

    GNNIMPUTE_IMPUTE(ch_input)
    ch_versions = ch_versions.mix(GNNIMPUTE_IMPUTE.out.versions)

    if (params.benchmark) {
        GNNIMPUTE_MASK(ch_input)
        GNNIMPUTE_IMPUTE_MASKED(GNNIMPUTE_MASK.out.masked)
        GNNIMPUTE_EVALUATE(
            GNNIMPUTE_IMPUTE_MASKED.out.h5ad.join(GNNIMPUTE_MASK.out.truth, failOnMismatch: true)
        )
        ch_versions = ch_versions
            .mix(GNNIMPUTE_MASK.out.versions)
            .mix(GNNIMPUTE_IMPUTE_MASKED.out.versions)
            .mix(GNNIMPUTE_EVALUATE.out.versions)

        // one TSV row per sample with every scalar metric (stub runs write '{}')
        GNNIMPUTE_EVALUATE.out.json
            .map { meta, json -> [meta.id, new groovy.json.JsonSlurper().parse(json.toFile()) ?: [:]] }
            .toList()
            .map { rows -> metricsTable(rows) }
            .collectFile(name: 'metrics_summary.tsv', storeDir: "${params.outdir}/benchmark")
    }

    // pipeline_info/software_versions.yml: one entry per process, plus the workflow
    def workflowVersions = [
        'Workflow:',
        "    Nextflow: ${workflow.nextflow.version}",
        "    gnnimpute-pipeline: ${workflow.manifest.version}",
    ].join('\n')
    ch_versions
        .map { f -> normaliseVersions(f.text) }
        .filter { it }
        .unique()
        .toSortedList()
        .map { entries -> (entries + [workflowVersions]).join('\n') + '\n' }
        .collectFile(name: 'software_versions.yml', storeDir: "${params.outdir}/pipeline_info")
}

workflow.onComplete {
    if (params.help) {
        return
    }
    if (workflow.success) {
        log.info "gnnimpute: done. Results in ${params.outdir}"
    } else {
        log.error "gnnimpute: the pipeline failed; see .nextflow.log and the work dir of the failing task"
    }
}
