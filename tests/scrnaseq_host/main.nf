/*
 * A mock nf-core/scrnaseq 4.0 host: the channel shapes, file names, var layout, concatenation
 * and versions collection of scrnaseq 4.0.0 around SCRNASEQ_IMPUTE, without the aligners.
 * tests/test_nextflow_scrnaseq_host.py copies this folder, the gnnimpute impute module
 * and the subworkflow ALONE into a new directory and runs it (stub and real).
 *
 *   MOCK_MTX_TO_H5AD: writes <id>_<input_type>_matrix.h5ad for raw and filtered of two
 *     samples, with Ensembl IDs as var_names and symbols in var['gene_symbols'] (4.0's Cell
 *     Ranger template), and a different block of undetected genes in each sample
 *   cellbender: the raw matrix renamed to input_type cellbender_filter, as 4.0 does
 *   MOCK_CONCAT_H5AD: H5AD_CONVERSION's grouping, [id:'combined', input_type] per type, and
 *     4.0.0's CONCAT_H5AD concatenation (an inner join of genes, layers and obsm keys)
 *   versions: scrnaseq's softwareVersionsToYAML reads versions.yml files
 */

include { MOCK_MTX_TO_H5AD } from './modules/local/mock_mtx_to_h5ad'
include { MOCK_CONCAT_H5AD } from './modules/local/mock_concat_h5ad'
include { SCRNASEQ_IMPUTE  } from './subworkflows/local/scrnaseq_impute/main'

workflow {
    ch_versions = Channel.empty()
    ch_mtx = Channel.of(
        [ [ id: 'S1', input_type: 'raw' ], 60 ],
        [ [ id: 'S1', input_type: 'filtered' ], 50 ],
        [ [ id: 'S2', input_type: 'raw' ], 56 ],
        [ [ id: 'S2', input_type: 'filtered' ], 40 ],
    )
    MOCK_MTX_TO_H5AD ( ch_mtx )
    ch_h5ads    = MOCK_MTX_TO_H5AD.out.h5ad
    ch_versions = ch_versions.mix( MOCK_MTX_TO_H5AD.out.versions.first() )

    // scrnaseq 4.0: cellbender runs on the raw matrices, renamed to avoid name collisions
    ch_h5ads = ch_h5ads.mix(
        ch_h5ads
            .filter { meta, h5ad -> meta.input_type == 'raw' }
            .map { meta, h5ad -> [ meta + [ input_type: 'cellbender_filter' ], h5ad ] }
    )

    def impute_types = params.impute_types instanceof List ? params.impute_types : params.impute_types.toString().tokenize(",")
    SCRNASEQ_IMPUTE ( ch_h5ads, impute_types )
    ch_h5ads    = ch_h5ads.mix( SCRNASEQ_IMPUTE.out.h5ad )
    ch_versions = ch_versions.mix( SCRNASEQ_IMPUTE.out.versions )

    // H5AD_CONVERSION: one combined matrix per input_type
    MOCK_CONCAT_H5AD (
        ch_h5ads
            .map { meta, h5ad -> [ [ id: 'combined', input_type: meta.input_type ], h5ad ] }
            .groupTuple(),
        file( "${projectDir}/samplesheet.csv", checkIfExists: true )
    )
    ch_versions = ch_versions.mix( MOCK_CONCAT_H5AD.out.versions.first() )

    // softwareVersionsToYAML of nf-core/scrnaseq 4.0 (utils_nfcore_pipeline): parse each
    // versions.yml, keep the last part of the process name
    ch_versions
        .unique()
        .map { f ->
            def yaml = new org.yaml.snakeyaml.Yaml()
            def versions = (yaml.load(f.text) ?: [:]).collectEntries { k, v -> [ k.tokenize(':')[-1], v ] }
            yaml.dumpAs(versions, null, org.yaml.snakeyaml.DumperOptions.FlowStyle.BLOCK)
        }
        .unique()
        .collectFile(storeDir: "${params.outdir}/pipeline_info", name: 'nf_core_scrnaseq_software_mqc_versions.yml', sort: true, newLine: true)
}
