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

// Values that end up in a task's shell script: sample names, obs column names, file names
SAFE_NAME      = /[A-Za-z0-9_][A-Za-z0-9_.-]*/
SAFE_LABEL_KEY = /[A-Za-z0-9_]([A-Za-z0-9_.:+ -]*[A-Za-z0-9_.:+-])?/
SAFE_FILE_NAME = /[A-Za-z0-9_][A-Za-z0-9_.+-]*/

// One CSV record (RFC 4180 quoting: "a,b" and "say ""hi""" are single fields)
def parseCsvLine(String line, String where) {
    def cells = []
    def cell = new StringBuilder()
    def quoted = false
    def i = 0
    while (i < line.length()) {
        def c = line.charAt(i)
        if (quoted) {
            if (c == '"' as char) {
                if (i + 1 < line.length() && line.charAt(i + 1) == '"' as char) {
                    cell.append('"')
                    i++
                } else {
                    quoted = false
                }
            } else {
                cell.append(c)
            }
        } else if (c == '"' as char) {
            quoted = true
        } else if (c == ',' as char) {
            cells << cell.toString().trim()
            cell = new StringBuilder()
        } else {
            cell.append(c)
        }
        i++
    }
    if (quoted) {
        error("${where}: a quoted field is not closed (fields may not span lines)")
    }
    cells << cell.toString().trim()
    return cells
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
        if (!(inputFile.name ==~ SAFE_FILE_NAME)) {
            error("Input file name '${inputFile.name}' may use only letters, digits, '_', '.', '+' and '-' (not first): rename or link it")
        }
        def id = inputFile.name.replaceFirst(/(?i)\.h5ad$/, '').replaceAll(/[^A-Za-z0-9_.-]/, '_')
        return [[[id: id], inputFile]]
    }
    if (!(name.endsWith('.csv'))) {
        error("Input must be a samplesheet (.csv) or an AnnData file (.h5ad): ${input}")
    }

    // Excel writes a byte-order mark and CRLF line ends: both are ignored
    def text = inputFile.text.replaceFirst(/^\uFEFF/, '')
    def numbered = []
    text.split(/\r\n|\r|\n/, -1).eachWithIndex { raw, i ->
        def line = raw.trim()
        if (line && !line.startsWith('#')) {
            numbered << [i + 1, line]
        }
    }
    if (!numbered) {
        error("Samplesheet is empty: ${input}")
    }
    def header = parseCsvLine(numbered[0][1], "Samplesheet ${input}, line ${numbered[0][0]}")
    def missing = ['sample', 'h5ad'].findAll { !(it in header) }
    if (missing) {
        error("Samplesheet ${input} must have the columns sample,h5ad; missing: ${missing.join(', ')} (header: ${numbered[0][1]})")
    }
    def unknown = header.findAll { !(it in ['sample', 'h5ad', 'label_key']) }
    if (unknown) {
        log.warn "Samplesheet ${input}: ignoring the columns ${unknown.join(', ')} (known: sample, h5ad, label_key)"
    }
    if (numbered.size() < 2) {
        error("Samplesheet ${input} has a header but no samples")
    }
    def rows = []
    def seen = [] as Set
    numbered.drop(1).each { lineNo, line ->
        def where = "Samplesheet ${input}, line ${lineNo}"
        def cells = parseCsvLine(line, where)
        if (cells.size() != header.size()) {
            error("${where}: expected ${header.size()} columns, found ${cells.size()}: ${line}")
        }
        def row = [header, cells].transpose().collectEntries()
        def sample = row.sample
        if (!(sample ==~ SAFE_NAME)) {
            error("${where}: sample name '${sample}' must be non-empty, use only letters, digits, '_', '.' and '-', and not start with '.' or '-'")
        }
        if (!seen.add(sample)) {
            error("${where}: sample '${sample}' appears more than once")
        }
        if (!row.h5ad) {
            error("${where}: the h5ad column is empty for sample '${sample}'")
        }
        if (!row.h5ad.toLowerCase().endsWith('.h5ad')) {
            error("${where}: '${row.h5ad}' does not end in .h5ad")
        }
        def h5ad = resolveSheetPath(row.h5ad, inputFile)
        if (!(h5ad.name ==~ SAFE_FILE_NAME)) {
            error("${where}: file name '${h5ad.name}' may use only letters, digits, '_', '.', '+' and '-' (not first): rename or link it")
        }
        if (!h5ad.exists()) {
            error("Input file not found: ${h5ad} (sample '${sample}', line ${lineNo} of ${input})")
        }
        def meta = [id: sample]
        if (row.label_key) {
            if (!(row.label_key ==~ SAFE_LABEL_KEY)) {
                error("${where}: label_key '${row.label_key}' may use only letters, digits, spaces and _ . : + - (an obs column name)")
            }
            meta.label_key = row.label_key
        }
        rows << [meta, h5ad]
    }
    return rows
}

// Parameters that reach a task's command line must not carry shell syntax, even with
// --validate_params false: numbers must be numbers, strings must match these patterns.
def checkScriptParams() {
    def patterns = [
        label_key  : SAFE_LABEL_KEY,
        sim_id     : SAFE_NAME,
        layer_type : SAFE_NAME,
        device     : SAFE_NAME,
        impute_args: /[A-Za-z0-9_.,:=\/+ -]*/,
    ]
    def numeric = ['sim_cells', 'sim_genes', 'sim_groups', 'sim_seed', 'k', 'pcs', 'heads', 'epochs',
                   'patience', 'lr', 'seed', 'min_genes', 'min_cells', 'mask_rate', 'mask_seed']
    def errors = []
    patterns.each { name, pattern ->
        def value = params[name]
        if (value != null && !(value instanceof Boolean) && !(value.toString() ==~ pattern)) {
            errors << "--${name}: '${value}' contains characters that are not allowed (pattern /${pattern}/)"
        }
    }
    numeric.each { name ->
        def value = params[name]
        if (value != null && !isNumberLike(value)) {
            errors << "--${name}: expected a number, got '${value}'"
        }
    }
    if (errors) {
        error("Invalid parameters:\n  " + errors.join('\n  '))
    }
}

/*
 * ---------------------------------------------------------------------------
 *  Versions and benchmark summary
 * ---------------------------------------------------------------------------
 */

// [process, tool, version] tuples of the modules' versions_* outputs -> software_versions.yml
def versionsYaml(List rows, String workflowVersions) {
    def byProcess = new TreeMap()
    rows.each { process, tool, version ->
        byProcess.get(process.toString().tokenize(':')[-1], new TreeMap())[tool.toString()] = version.toString().trim()
    }
    def lines = []
    byProcess.each { process, tools ->
        lines << "${process}:"
        tools.each { tool, version -> lines << "    ${tool}: ${version}" }
    }
    return (lines + [workflowVersions]).join('\n') + '\n'
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
    checkScriptParams()

    ch_versions = Channel.empty()

    if (params.input) {
        ch_input = Channel.fromList(readInput(params.input.toString()))
    } else if (params.simulate) {
        GNNIMPUTE_SIMULATE(Channel.of([id: params.sim_id]))
        ch_input    = GNNIMPUTE_SIMULATE.out.h5ad
        ch_versions = ch_versions.mix(GNNIMPUTE_SIMULATE.out.versions_gnnimpute)
    } else {
        error("Missing --input: pass a samplesheet CSV (columns sample,h5ad) or a .h5ad file (or use -profile test).")
    }

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
        GNNIMPUTE_EVALUATE(ch_eval)
        ch_versions = ch_versions.mix(
            GNNIMPUTE_MASK.out.versions_gnnimpute,
            GNNIMPUTE_IMPUTE_MASKED.out.versions_gnnimpute,
            GNNIMPUTE_IMPUTE_MASKED.out.versions_torch,
            GNNIMPUTE_EVALUATE.out.versions_gnnimpute,
        )

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
        .unique()
        .toList()
        .map { rows -> versionsYaml(rows, workflowVersions) }
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
