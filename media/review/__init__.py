"""The review report's Beam-free parts: per-scene evidence (thumbnails, onsets), its pictures
(matplotlib), and its static HTML pages. ``transforms.report`` runs them per film in the restore
job; ``pipelines.report`` runs them for an existing output."""
