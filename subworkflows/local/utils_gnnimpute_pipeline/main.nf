/*
 * Set-up and completion of the gnnimpute pipeline.
 *
 * PIPELINE_INITIALISATION: --help, parameter validation (nf-schema, against
 *   nextflow_schema.json) and the input channel from a samplesheet (nf-schema,
 *   against assets/schema_input.json) or a single .h5ad.
 * PIPELINE_COMPLETION: pipeline_info/software_versions.yml and params_<time>.json,
 *   and the closing message.
 */

include { paramsHelp; validateParameters; samplesheetToList } from 'plugin/nf-schema'
// the one writer of versions YAML, shared with the scrnaseq drop-in
include { versionsYaml } from '../scrnaseq_impute'

// Values that end up in a task's shell script: sample names, obs column names, file names
def SAFE_NAME()      { /[A-Za-z0-9_][A-Za-z0-9_.-]*/ }
def SAFE_LABEL_KEY() { /[A-Za-z0-9_]([A-Za-z0-9_.:+ -]*[A-Za-z0-9_.:+-])?/ }
def SAFE_FILE_NAME() { /[A-Za-z0-9_][A-Za-z0-9_.+-]*/ }
def USAGE()          { 'Pass --input with a samplesheet CSV (columns sample,h5ad) or a .h5ad file.' }

workflow PIPELINE_INITIALISATION {

    take:
    help             // boolean: print the parameters and stop
    validate_params  // boolean: validate the parameters against nextflow_schema.json
    input            // string: samplesheet CSV or .h5ad (null: the simulated dataset of -profile test)

    main:
    if (help) {
        log.info paramsHelp([hideWarning: true],
            'nextflow run main.nf --input samplesheet.csv --outdir results [-profile docker|singularity|apptainer|conda|gpu|test|awsbatch|google]')
        exit 0
    }
    if (validate_params) {
        // reported beside nf-schema's own list of invalid values
        def nameErrors = paramNameErrors()
        nameErrors.each { log.error(it) }
        validateParameters()
        if (nameErrors) {
            error("Invalid parameters:\n  " + nameErrors.join('\n  '))
        }
    }
    checkScriptParams()

    if (input) {
        ch_samplesheet = Channel.fromList(readInput(input.toString()))
    } else if (params.simulate) {
        ch_samplesheet = Channel.empty()
    } else {
        error("Missing --input: pass a samplesheet CSV (columns sample,h5ad) or a .h5ad file (or use -profile test).")
    }

    emit:
    samplesheet = ch_samplesheet  // channel: [ val(meta), path(h5ad), val(label_key) ]; meta: id, layer
}

workflow PIPELINE_COMPLETION {

    take:
    versions  // channel: [ process, tool, version ] tuples of the modules' versions outputs
    outdir    // string

    main:
    def info = "${outdir}/pipeline_info"
    versions
        .unique()
        .toList()
        .map { rows ->
            versionsYaml(rows + [['Workflow', 'Nextflow', workflow.nextflow.version], ['Workflow', 'gnnimpute-pipeline', workflow.manifest.version]])
        }
        .collectFile(name: 'software_versions.yml', storeDir: info, sort: false)
    def stamp = new java.util.Date().format('yyyy-MM-dd_HH-mm-ss')
    Channel.of(groovy.json.JsonOutput.prettyPrint(groovy.json.JsonOutput.toJson(params.findAll { k, v -> !k.contains('-') })))
        .collectFile(name: "params_${stamp}.json", storeDir: info, sort: false)

    workflow.onComplete {
        completionMessage(outdir)
    }
}

def completionMessage(outdir) {
    if (workflow.success) {
        log.info "gnnimpute: done. Results in ${outdir}"
    } else {
        log.error "gnnimpute: the pipeline failed; see .nextflow.log and the work dir of the failing task"
    }
}

// --min-genes would be kept apart from params.min_genes by Nextflow, and so be ignored
def paramNameErrors() {
    def known = params.keySet().findAll { !it.contains('-') }
    params.keySet().findAll { it.contains('-') && it.replace('-', '_') in known }.collect { name ->
        "--${name}: parameter names use underscores: --${name.replace('-', '_')}".toString()
    }
}

// Parameters that reach a task's command line must not carry shell syntax, even with
// --validate_params false: numbers must be numbers, strings must match these patterns.
def checkScriptParams() {
    def patterns = [label_key: SAFE_LABEL_KEY(), sim_id: SAFE_NAME(), layer_type: SAFE_NAME(), layer: SAFE_NAME(),
                    gnnimpute_device: SAFE_NAME(), impute_args: /[A-Za-z0-9_.,:=\/+ -]*/]
    def numeric = ['sim_cells', 'sim_genes', 'sim_groups', 'sim_seed', 'gnnimpute_k', 'pcs', 'heads', 'epochs',
                   'patience', 'gnnimpute_lr', 'seed', 'min_genes', 'min_cells', 'mask_rate', 'mask_seed']
    def errors = patterns.findAll { name, pattern ->
        def value = params[name]
        value != null && !(value instanceof Boolean) && !(value.toString() ==~ pattern)
    }.collect { name, pattern -> "--${name}: '${params[name]}' contains characters that are not allowed (pattern /${pattern}/)" }
    errors += numeric.findAll { name ->
        def value = params[name]
        value != null && !(value instanceof Number || (value instanceof CharSequence && value.toString().isNumber()))
    }.collect { name -> "--${name}: expected a number, got '${params[name]}'" }
    if (errors) {
        error("Invalid parameters:\n  " + errors.join('\n  '))
    }
}

// A samplesheet (nf-schema checks each row against assets/schema_input.json) or one .h5ad
def readInput(String input) {
    def inputFile = file(input)
    if (!inputFile.exists()) {
        error("Input file not found: ${input}\n${USAGE()}")
    }
    if (inputFile.isDirectory()) {
        error("Input is a directory, not a file: ${input}\n${USAGE()}")
    }
    def name = inputFile.name.toLowerCase()
    if (name.endsWith('.h5ad')) {
        if (!(inputFile.name ==~ SAFE_FILE_NAME())) {
            error("Input file name '${inputFile.name}' may use only letters, digits, '_', '.', '+' and '-' (not first): rename or link it")
        }
        def id = inputFile.name.replaceFirst(/(?i)\.h5ad$/, '').replaceAll(/[^A-Za-z0-9_.-]/, '_')
        return [[[id: id], inputFile, params.label_key ?: '']]
    }
    if (!name.endsWith('.csv')) {
        error("Input must be a samplesheet (.csv) or an AnnData file (.h5ad): ${input}")
    }
    def rows = samplesheetToList(cleanSheet(inputFile, input), "${projectDir}/assets/schema_input.json")
    def seen = [:]
    return rows.withIndex().collect { row, i ->
        def (sheetMeta, h5adValue, labelKey, layer) = row
        // a sample named 1 comes back as a number
        def meta = sheetMeta + [id: sheetMeta.id.toString()]
        def where = "Samplesheet ${input}, entry ${i + 1} (sample '${meta.id}')"
        def twin = seen.put(meta.id.toLowerCase(), i + 1)
        if (twin) {
            error("${where}: sample names must differ in more than case; entry ${twin} is '${rows[twin - 1][0].id}'")
        }
        def h5ad = resolveSheetPath(h5adValue.toString(), inputFile)
        if (!(h5ad.name ==~ SAFE_FILE_NAME())) {
            error("${where}: file name '${h5ad.name}' may use only letters, digits, '_', '.', '+' and '-' (not first): rename or link it")
        }
        if (!h5ad.exists()) {
            error("Input file not found: ${h5ad} (${where})")
        }
        [meta.findAll { k, v -> v != null && v != [] } + (layer ? [layer: layer] : [:]), h5ad, labelKey ?: params.label_key ?: '']
    }
}

// Excel writes a byte-order mark; '#' lines are comments. nf-schema reads neither, so
// such a sheet is read from a cleaned copy in the work directory.
def cleanSheet(sheet, String input) {
    def text = sheet.text
    def lines = text.replaceFirst(/^\uFEFF/, '').split(/\r\n|\r|\n/, -1).findAll { it.trim() && !it.trim().startsWith('#') }
    if (!lines) {
        error("Samplesheet is empty: ${input}")
    }
    def header = lines[0].split(',', -1)*.trim()*.replaceAll(/^"|"$/, '')
    def missing = ['sample', 'h5ad'].findAll { !(it in header) }
    if (missing) {
        error("Samplesheet ${input} must have the columns sample,h5ad; missing: ${missing.join(', ')} (header: ${lines[0]})")
    }
    if (lines.size() < 2) {
        error("Samplesheet ${input} has a header but no samples")
    }
    def clean = lines.join('\n') + '\n'
    if (clean == text) {
        return sheet
    }
    def copy = workflow.workDir.resolve("samplesheet-${clean.md5()}.csv")
    copy.text = clean
    return copy
}

def resolveSheetPath(String path, sheet) {
    if (path ==~ /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/.*/ || path.startsWith('/')) {
        return file(path)
    }
    // relative paths are read from the samplesheet's own folder
    return sheet.parent.resolve(path)
}
