# Data pipeline for semantic segmentation (mmseg transforms).
#
# train_pipeline loads the label map and augments; test_pipeline resizes only. The model's
# data_preprocessor normalises and pads, so the pipelines keep uint8 images. Use them in a data
# loader, e.g. train_dataloader = dict(dataset=dict(type='BaseSegDataset', ..., pipeline=train_pipeline))

default_scope = 'mmseg'  # registry that resolves the transform types below

crop_size = (512, 512)  # (height, width) of the training crops

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(544, 544), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(544, 544), keep_ratio=True),
    dict(type='LoadAnnotations'),  # after Resize: the prediction is scored at the original size
    dict(type='PackSegInputs'),
]
