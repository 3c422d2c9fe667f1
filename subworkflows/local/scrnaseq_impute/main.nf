/*
 * SCRNASEQ_IMPUTE: gnnimpute as a drop-in step of nf-core/scrnaseq 4.0.
 *
 * Takes the h5ad channel of scrnaseq 4.0 (MTX_TO_H5AD's `h5ad` output, mixed with the
 * cellbender subworkflow's): [ meta, path("${meta.id}_${meta.input_type}_matrix.h5ad") ]
 * with meta.input_type in raw, filtered, emptydrops_filter, cellbender_filter.
 * Imputes the matrices whose input_type is listed in `input_types` and emits them with
 * input_type "<type>_imputed", so that H5AD_CONVERSION concatenates each cell caller's
 * imputed matrices separately. For scrnaseq's file names, <id>_<type>_imputed_matrix.h5ad,
 * set in the host's conf/modules.config:
 *     withName: '.*SCRNASEQ_IMPUTE:GNNIMPUTE_IMPUTE' {
 *         ext.prefix = { "${meta.id}_${meta.input_type}_matrix" }
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
    ch_to_impute = ch_h5ads
        .filter { meta, h5ad -> meta.input_type in input_types }
        .map { meta, h5ad -> [ meta + [ input_type: "${meta.input_type}_imputed".toString() ], h5ad ] }

    GNNIMPUTE_IMPUTE ( ch_to_impute )

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
    h5ad     = GNNIMPUTE_IMPUTE.out.h5ad  // channel: [ val(meta), path(h5ad) ], meta.input_type = '<type>_imputed'
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
