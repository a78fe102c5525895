import numpy as np

from wsol.app.stages.curves import curve_rows, write_curves


def test_curve_rows_have_one_row_per_metric_and_threshold_and_skip_the_axis():
    grid = [0.0, 0.5]
    box = {"cam_threshold": np.array(grid), "boxacc@50": np.array([10.0, 60.0])}
    center = {"cam_threshold": np.array(grid), "boxacc@50": np.array([5.0, 7.0])}
    rows = curve_rows(grid, box, center, [0.1, 0.2], np.array([30.0, 40.0]))
    assert rows == [("loc/boxacc@50", 0.0, 10.0), ("loc/boxacc@50", 0.5, 60.0),
                    ("baseline/center/boxacc@50", 0.0, 5.0),
                    ("baseline/center/boxacc@50", 0.5, 7.0),
                    ("seg/miou", 0.1, 30.0), ("seg/miou", 0.2, 40.0)]


def test_write_curves_writes_csv_and_plot(tmp_path):
    write_curves(tmp_path / "curves.csv", tmp_path / "figures", [0.0, 0.5],
                 {"boxacc@50": np.array([1.0, 2.0])}, {}, [0.1], None)
    lines = (tmp_path / "curves.csv").read_text().splitlines()
    assert lines == ["curve,threshold,value", "loc/boxacc@50,0.0000,1.0000",
                     "loc/boxacc@50,0.5000,2.0000"]
    assert (tmp_path / "figures" / "curves.png").stat().st_size > 1000
