"""Figures read from the publishers' workbooks, used as expectations by several tests."""

# Rank-1 province of each PCI year, as printed in each workbook's summary or rank sheet.
PCI_LEADERS = {
    2005: "Bình Dương", 2006: "Bình Dương", 2007: "Bình Dương", 2008: "Đà Nẵng", 2009: "Đà Nẵng",
    2010: "Đà Nẵng", 2011: "Lào Cai", 2012: "Đồng Tháp", 2013: "Đà Nẵng", 2014: "Đà Nẵng",
    2015: "Đà Nẵng", 2016: "Đà Nẵng", 2017: "Quảng Ninh", 2018: "Quảng Ninh", 2019: "Quảng Ninh",
}
