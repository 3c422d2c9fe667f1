/*
 * SCRNASEQ_IMPUTE: gnnimpute as a drop-in step of nf-core/scrnaseq 4.0 that loses nothing.
 *
 * Takes the h5ad channel of scrnaseq 4.0 (MTX_TO_H5AD's `h5ad` output, mixed with the
 * cellbender subworkflow's): [ meta, path("${meta.id}_${meta.input_type}_matrix.h5ad") ]
 * with meta.input_type in raw, filtered, cellbender_filter.
 * Imputes the matrices whose input_type is listed in `input_types` and emits them with
 * input_type "<type>_imputed", so that H5AD_CONVERSION concatenates each cell caller's
 * imputed matrices separately. In the task meta.id is <sample>_<type>: without an ext.prefix
 * the files are named <sample>_<type>_imputed.h5ad, so filtered and cellbender outputs never
 * overwrite each other.
 *
 * scrnaseq's CONCAT_H5AD joins samples on their genes (an inner join) and keeps only the
 * layers and obsm keys every sample has. In the host's conf/modules.config:
 *     withName: '.*SCRNASEQ_IMPUTE:GNNIMPUTE_IMPUTE' {
 *         // every gene and cell kept (cell QC is scrnaseq's), the layers you want (each
 *         // 4 bytes per cell x gene), the embedding under a per-sample key (or none)
 *         ext.args   = { "--no-qc --layers gnnimpute --embedding-key X_gnnimpute_${meta.id}" }
 *         ext.prefix = { "${meta.id}_imputed_matrix" }  // scrnaseq's naming: S1_filtered_imputed_matrix
 *     }
 *
 * In scrnaseq 4.0's workflows/scrnaseq.nf, after the cellbender block and before
 * H5AD_CONVERSION:
 *     SCRNASEQ_IMPUTE ( ch_h5ads, ['filtered', 'cellbender_filter'] )
 *     ch_h5ads    = ch_h5ads.mix( SCRNASEQ_IMPUTE.out.h5ad )
 *     ch_versions = ch_versions.mix( SCRNASEQ_IMPUTE.out.versions )
 */

include { GNNIMPUTE_IMPUTE } from '../../../modules/local/gnnimpute/impute/main'

workflow SCRNASEQ_IMPUTE {

    take:
    ch_h5ads     // channel: [ val(meta), path(h5ad) ], meta.input_type set
    input_types  // list: the input_type values to impute, e.g. ['filtered', 'cellbender_filter']

    main:
    // the input_type values of nf-core/scrnaseq 4.0.0 (a misspelt one would impute nothing)
    def known_types = [ 'raw', 'filtered', 'cellbender_filter' ]
    def unknown = input_types.findAll { !( it in known_types ) }
    if ( unknown ) {
        error "SCRNASEQ_IMPUTE: unknown input_type ${unknown.join(', ')}; nf-core/scrnaseq 4.0 has ${known_types.join(', ')}"
    }
    // the task sees the id <sample>_<input_type>, so that the module's default file name
    // (<sample>_<input_type>_imputed.h5ad), and an ext.prefix or ext.args built from meta.id,
    // differ between the cell callers of one sample
    ch_to_impute = ch_h5ads
        .filter { meta, h5ad -> meta.input_type in input_types }
        .map { meta, h5ad -> [ meta + [ id: "${meta.id}_${meta.input_type}".toString() ], h5ad ] }

    GNNIMPUTE_IMPUTE ( ch_to_impute )

    // the sample's own id back, and the input_type <type>_imputed
    ch_imputed = GNNIMPUTE_IMPUTE.out.h5ad
        .map { meta, h5ad ->
            def sample = meta.id.substring( 0, meta.id.length() - meta.input_type.length() - 1 )
            [ meta + [ id: sample, input_type: "${meta.input_type}_imputed".toString() ], h5ad ]
        }

    // scrnaseq 4.0 collects versions.yml files (softwareVersionsToYAML): write one per
    // process from the module's `versions` topic tuples
    ch_versions = GNNIMPUTE_IMPUTE.out.versions_gnnimpute
        .mix( GNNIMPUTE_IMPUTE.out.versions_torch )
        .unique()
        .groupTuple()
        .collectFile(sort: false) { process, tools, versions ->
            def rows = [ tools, versions ].transpose().collect { tool, version -> [ process, tool, version ] }
            [ "${process.tokenize(':')[-1]}_versions.yml", versionsYaml( rows, { name -> "\"${name}\"" } ) ]
        }

    emit:
    h5ad     = ch_imputed                 // channel: [ val(meta), path(h5ad) ], meta.input_type = '<type>_imputed'
    versions = ch_versions                // channel: [ path(versions.yml) ]
}

// [ process, tool, version ] tuples -> versions YAML, one block per process and the tools
// sorted; `key` names a process's block (default: its simple name). The one writer of
// versions YAML: the gnnimpute pipeline's software_versions.yml uses it too.
def versionsYaml(List rows, Closure key = { name -> name.toString().tokenize(':')[-1] }) {
    def byProcess = new TreeMap()
    rows.each { process, tool, version ->
        byProcess.get(key(process.toString()).toString(), new TreeMap())[tool.toString()] = version.toString().trim()
    }
    def lines = []
    byProcess.each { process, tools ->
        lines << "${process}:"
        tools.each { tool, version -> lines << "    ${tool}: ${version}" }
    }
    return lines.join('\n') + '\n'
}
