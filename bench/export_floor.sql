-- The image export's columns joined by the database alone, for bench_export.py's floor.
--
-- One row per image of the bench data (one lab, so no lab restriction): the
-- current analysis (highest succeeded run), its model names, order score,
-- particle statistics, the four defect classes' statistics pivoted, the
-- latest synthesis with its step count and its one parameter, and the latest
-- value of the two properties. Every column is aggregated, so the database
-- computes every value without sending any row: its time is a lower bound of
-- any export of the same rows on the same machine. Portable SQL (PostgreSQL
-- and SQLite >= 3.30). The bench's data has one extra parameter (stirring
-- rate) and two properties (BET area, conductivity).
SELECT count(*),
       max(lab),
       max(sample_code),
       max(material),
       max(material_kind),
       max(filename),
       max(pixel_size_nm),
       max(acquired_at),
       max(analysis_run_id),
       max(classifier),
       max(segmenter),
       max(embedder),
       max(order_score),
       max(particle_count),
       max(particle_density),
       max(particle_diameter),
       max(particle_nearest_neighbour),
       max(particle_clark_evans_r),
       max(sheet_border_area_fraction),
       max(sheet_border_skeleton_length_nm),
       max(sheet_border_segment_count),
       max(sheet_border_branch_point_count),
       max(sheet_border_cluster_count),
       max(sheet_border_density_per_um2),
       max(grain_boundary_area_fraction),
       max(grain_boundary_skeleton_length_nm),
       max(grain_boundary_segment_count),
       max(grain_boundary_branch_point_count),
       max(grain_boundary_cluster_count),
       max(grain_boundary_density_per_um2),
       max(topological_defect_area_fraction),
       max(topological_defect_skeleton_length_nm),
       max(topological_defect_segment_count),
       max(topological_defect_branch_point_count),
       max(topological_defect_cluster_count),
       max(topological_defect_density_per_um2),
       max(point_defect_area_fraction),
       max(point_defect_skeleton_length_nm),
       max(point_defect_segment_count),
       max(point_defect_branch_point_count),
       max(point_defect_cluster_count),
       max(point_defect_density_per_um2),
       max(synthesis_count),
       max(synthesis_kind),
       max(precursor),
       max(precursor_mass_mg),
       max(support_mass_mg),
       max(solvent),
       max(solvent_volume_ml),
       max(temperature_c),
       max(duration_min),
       max(performed_on),
       max(stirring_rate),
       max(bet_area),
       max(conductivity)
FROM (
    SELECT lab.slug AS lab, image.sample_id, sample.code AS sample_code,
           material.name AS material, material.kind AS material_kind,
           image.id AS image_id, image.original_filename AS filename,
           image.pixel_size_nm, image.acquired_at,
           run.id AS analysis_run_id, classifier.name AS classifier,
           segmenter.name AS segmenter, embedder.name AS embedder,
           score.score AS order_score, particles.count AS particle_count,
           particles.density_per_um2 AS particle_density,
           particles.mean_diameter_nm AS particle_diameter,
           particles.mean_nearest_neighbour_nm AS particle_nearest_neighbour,
           particles.clark_evans_r AS particle_clark_evans_r,
           defects.*,
           synthesis.synthesis_count, synthesis.kind AS synthesis_kind, synthesis.precursor,
           synthesis.precursor_mass_mg, synthesis.support_mass_mg, synthesis.solvent,
           synthesis.solvent_volume_ml, synthesis.temperature_c, synthesis.duration_min,
           synthesis.performed_on,
           parameters.stirring_rate, properties.bet_area, properties.conductivity
    FROM imaging_semimage image
    JOIN samples_sample sample ON sample.id = image.sample_id
    JOIN samples_material material ON material.id = sample.material_id
    JOIN accounts_lab lab ON lab.id = image.lab_id
    LEFT JOIN (
        SELECT image_id, max(id) AS run_id
        FROM results_analysisrun WHERE status = 'succeeded' GROUP BY image_id
    ) current_run ON current_run.image_id = image.id
    LEFT JOIN results_analysisrun run ON run.id = current_run.run_id
    LEFT JOIN registry_modelversion classifier ON classifier.id = run.classifier_id
    LEFT JOIN registry_modelversion segmenter ON segmenter.id = run.segmenter_id
    LEFT JOIN registry_modelversion embedder ON embedder.id = run.embedder_id
    LEFT JOIN results_orderscore score ON score.run_id = run.id
    LEFT JOIN results_particlestatistics particles ON particles.run_id = run.id
    LEFT JOIN (
        SELECT run_id AS statistics_run_id,
           max(CASE WHEN defect_class = 'sheet_border' THEN area_fraction END) AS sheet_border_area_fraction,
           max(CASE WHEN defect_class = 'sheet_border' THEN skeleton_length_nm END) AS sheet_border_skeleton_length_nm,
           max(CASE WHEN defect_class = 'sheet_border' THEN segment_count END) AS sheet_border_segment_count,
           max(CASE WHEN defect_class = 'sheet_border' THEN branch_point_count END) AS sheet_border_branch_point_count,
           max(CASE WHEN defect_class = 'sheet_border' THEN cluster_count END) AS sheet_border_cluster_count,
           max(CASE WHEN defect_class = 'sheet_border' THEN density_per_um2 END) AS sheet_border_density_per_um2,
           max(CASE WHEN defect_class = 'grain_boundary' THEN area_fraction END) AS grain_boundary_area_fraction,
           max(CASE WHEN defect_class = 'grain_boundary' THEN skeleton_length_nm END) AS grain_boundary_skeleton_length_nm,
           max(CASE WHEN defect_class = 'grain_boundary' THEN segment_count END) AS grain_boundary_segment_count,
           max(CASE WHEN defect_class = 'grain_boundary' THEN branch_point_count END) AS grain_boundary_branch_point_count,
           max(CASE WHEN defect_class = 'grain_boundary' THEN cluster_count END) AS grain_boundary_cluster_count,
           max(CASE WHEN defect_class = 'grain_boundary' THEN density_per_um2 END) AS grain_boundary_density_per_um2,
           max(CASE WHEN defect_class = 'topological_defect' THEN area_fraction END) AS topological_defect_area_fraction,
           max(CASE WHEN defect_class = 'topological_defect' THEN skeleton_length_nm END) AS topological_defect_skeleton_length_nm,
           max(CASE WHEN defect_class = 'topological_defect' THEN segment_count END) AS topological_defect_segment_count,
           max(CASE WHEN defect_class = 'topological_defect' THEN branch_point_count END) AS topological_defect_branch_point_count,
           max(CASE WHEN defect_class = 'topological_defect' THEN cluster_count END) AS topological_defect_cluster_count,
           max(CASE WHEN defect_class = 'topological_defect' THEN density_per_um2 END) AS topological_defect_density_per_um2,
           max(CASE WHEN defect_class = 'point_defect' THEN area_fraction END) AS point_defect_area_fraction,
           max(CASE WHEN defect_class = 'point_defect' THEN skeleton_length_nm END) AS point_defect_skeleton_length_nm,
           max(CASE WHEN defect_class = 'point_defect' THEN segment_count END) AS point_defect_segment_count,
           max(CASE WHEN defect_class = 'point_defect' THEN branch_point_count END) AS point_defect_branch_point_count,
           max(CASE WHEN defect_class = 'point_defect' THEN cluster_count END) AS point_defect_cluster_count,
           max(CASE WHEN defect_class = 'point_defect' THEN density_per_um2 END) AS point_defect_density_per_um2
        FROM results_defectstatistic GROUP BY run_id
    ) defects ON defects.statistics_run_id = run.id
    LEFT JOIN (
        SELECT * FROM (
            SELECT *,
                   row_number() OVER (PARTITION BY sample_id
                                      ORDER BY performed_on DESC NULLS LAST, id DESC) AS recency,
                   count(*) OVER (PARTITION BY sample_id) AS synthesis_count
            FROM samples_synthesis
        ) ranked WHERE recency = 1
    ) synthesis ON synthesis.sample_id = image.sample_id
    LEFT JOIN (
        SELECT synthesis_id, max(CASE WHEN name = 'stirring rate' THEN value END) AS stirring_rate
        FROM samples_synthesisparameter GROUP BY synthesis_id
    ) parameters ON parameters.synthesis_id = synthesis.id
    LEFT JOIN (
        SELECT sample_id,
               max(CASE WHEN name = 'BET area' THEN value END) AS bet_area,
               max(CASE WHEN name = 'conductivity' THEN value END) AS conductivity
        FROM (
            SELECT *,
                   row_number() OVER (PARTITION BY sample_id, name, unit
                                      ORDER BY measured_on DESC NULLS LAST, id DESC) AS recency
            FROM samples_propertymeasurement
        ) ranked WHERE recency = 1
        GROUP BY sample_id
    ) properties ON properties.sample_id = image.sample_id
) export
