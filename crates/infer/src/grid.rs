//! How a layer of neurons is laid out as a grid, the same in the plots and in the explorer.

/// Grid width for a layer of `h` neurons: 600 is drawn 30 wide and 20 high.
pub fn grid_columns(h: usize) -> usize {
    if h == 600 {
        30
    } else {
        (h as f64 * 1.5).sqrt().ceil().max(1.0) as usize
    }
}
